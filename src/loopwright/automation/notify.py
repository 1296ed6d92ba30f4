"""Where automation's decisions go: the ``loopwright.automation`` log, and the alert channels (webhooks).

Every decision is recorded in the store first (the rollout's events, the retraining's record); the
channels are told afterwards, and a channel that fails is logged and noted on the event, never raised: a
broken receiver must not stop a rollout. A webhook receives the same envelope alerts use, so one
receiver (a Slack or Mattermost incoming webhook reads ``text``) serves both::

    {"event": "rollout.rolled_back", "text": "[rollout 3] fraud: version 5 rolled back: ...",
     "rollout": {"id": 3, "deployment": "fraud", "model": "fraud", "candidate": 5, "status": ..., ...},
     "details": {...}}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from loopwright.monitoring.channels import Webhook, channel_from_json, channel_key

__all__ = ["LOGGER_NAME", "notify"]

LOGGER_NAME = "loopwright.automation"
logger = logging.getLogger(LOGGER_NAME)

# Events that call for attention are warnings; progress is information.
_WARNINGS = frozenset({"rolled_back", "aborted", "promotion_blocked", "rejected", "failed"})


def notify(
    channels: Sequence[Mapping[str, Any]],
    event: str,
    text: str,
    subject: Mapping[str, Any],
    details: Mapping[str, Any] | None = None,
    *,
    subject_name: str = "rollout",
) -> dict[str, Any]:
    """Send one event to ``channels`` (their stored form: ``{"kind": "log"}``, a webhook's dict) and say
    how each took it, by :func:`~loopwright.monitoring.channels.channel_key`. ``event`` is the kind
    (``promoted``); webhooks receive it as ``<subject_name>.<event>``."""
    outcomes: dict[str, Any] = {}
    payload: dict[str, Any] | None = None
    for stored in channels:
        channel = channel_from_json(stored)
        if channel == "store":
            continue  # recorded already
        if channel == "log":
            logger.log(logging.WARNING if event in _WARNINGS else logging.INFO, "%s", text)
            outcomes["log"] = {"ok": True}
            continue
        assert isinstance(channel, Webhook)
        if payload is None:
            payload = {
                "event": f"{subject_name}.{event}",
                "text": text,
                subject_name: dict(subject),
                "details": dict(details or {}),
            }
        delivery = channel.post(payload)
        if not delivery.ok:
            logger.warning(
                "Could not send %s %s to %s after %d attempt(s): %s",
                subject_name,
                event,
                channel.url,
                delivery.attempts,
                delivery.error,
            )
        outcomes[channel_key(channel)] = delivery.to_json()
    return outcomes
