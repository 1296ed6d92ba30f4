"""Where alerts go: the store (always), the log, and webhooks.

A channel is ``"store"``, ``"log"`` or a :class:`Webhook`. Every alert is recorded in the store whatever
the channels say (deduplication and resolution work from the record); ``"log"`` writes one line to the
``loopwright.alerts`` logger (warning when an alert opens, error when a critical one does, info when one
resolves); a webhook receives an HTTP POST of the event as JSON::

    {"event": "opened", "text": "[critical] fraud-drift: ...", "alert": {"id": 7, "rule": "fraud-drift",
     "status": "open", "severity": "critical", "monitor": "fraud", "deployment": "fraud",
     "condition": "drift_share > 0.3", "value": 0.42, "window_start": "...", "window_end": "...",
     "opened_at": "...", "resolved_at": null, "message": "..."}}

``text`` is a one-line summary, so chat tools that read ``text`` (Slack and Mattermost incoming webhooks)
show something useful as they are. Delivery is synchronous with a timeout per attempt and retries with
exponential back-off on connection errors, timeouts, HTTP 429 and 5xx; any other answer is final. A
delivery that still fails is logged and recorded on the alert (``notified``), never raised: a broken
receiver must not stop monitoring.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from loopwright.errors import AlertRuleError, InvalidInputError

__all__ = ["CHANNEL_NAMES", "Delivery", "Webhook", "channel_from_json", "channel_key", "parse_channels"]

logger = logging.getLogger("loopwright.alerts")

CHANNEL_NAMES = ("store", "log")
"""The channels named by a word; a webhook is a :class:`Webhook`."""

_MAX_BACKOFF_S = 8.0


@dataclass(frozen=True, slots=True)
class Webhook:
    """A channel that POSTs each alert event as JSON to ``url``.

    Each attempt waits at most ``timeout_s`` seconds; a failed attempt (connection error, timeout, HTTP
    429 or 5xx) is retried up to ``retries`` times, after 0.5 s, 1 s, 2 s, ... ``headers`` are sent with
    each request (e.g. ``{"Authorization": "Bearer ..."}``); they are stored with the rule, in the
    metadata database.

    >>> Webhook("https://hooks.example.com/loopwright", retries=3)
    Webhook(url='https://hooks.example.com/loopwright', timeout_s=5.0, retries=3, headers={})
    """

    url: str
    timeout_s: float = 5.0
    retries: int = 2
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url) if isinstance(self.url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInputError(
                f"The 'url' of a webhook must be an http:// or https:// URL with a host. Got {self.url!r} "
                "instead.",
                url=repr(self.url),
            )
        if (
            isinstance(self.timeout_s, bool)
            or not isinstance(self.timeout_s, int | float)
            or not math.isfinite(self.timeout_s)
            or not 0 < self.timeout_s <= 60
        ):
            raise InvalidInputError(
                f"The 'timeout_s' of a webhook must be a number of seconds above 0 and at most 60. Got "
                f"{self.timeout_s!r} instead.",
                timeout_s=repr(self.timeout_s),
            )
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or not 0 <= self.retries <= 10:
            raise InvalidInputError(
                f"The 'retries' of a webhook must be a whole number from 0 to 10. Got {self.retries!r} "
                "instead.",
                retries=repr(self.retries),
            )
        if not isinstance(self.headers, Mapping) or not all(
            isinstance(key, str) and isinstance(value, str) and "\n" not in key + value
            for key, value in self.headers.items()
        ):
            raise InvalidInputError(
                "The 'headers' of a webhook must map header names to texts without line breaks. Got "
                f"{self.headers!r} instead.",
                headers=repr(self.headers),
            )
        object.__setattr__(self, "timeout_s", float(self.timeout_s))
        object.__setattr__(self, "headers", dict(self.headers))

    def to_json(self) -> dict[str, Any]:
        """The channel as stored with its rule."""
        return {
            "kind": "webhook",
            "url": self.url,
            "timeout_s": self.timeout_s,
            "retries": self.retries,
            "headers": dict(self.headers),
        }

    def post(self, payload: Mapping[str, Any], *, sleep: Callable[[float], None] = time.sleep) -> Delivery:
        """POST ``payload`` as JSON, retrying as described; returns how it went (never raises)."""
        body = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": "loopwright-alerts", **self.headers}
        attempts = 0
        problem = ""
        status: int | None = None
        # Proxies from the environment apply, except to this machine, which no proxy can reach for us.
        opener = urllib.request.build_opener(
            *([urllib.request.ProxyHandler({})] if _loopback(urlsplit(self.url).hostname) else [])
        )
        while True:
            attempts += 1
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            retry_after: float | None = None
            try:
                with opener.open(request, timeout=self.timeout_s) as response:
                    status = int(response.status)
                    return Delivery(True, attempts, status)
            except urllib.error.HTTPError as error:
                status, problem = error.code, f"HTTP {error.code} {error.reason}"
                retryable = error.code == 429 or error.code >= 500
                retry_after = _seconds(error.headers.get("Retry-After")) if error.headers else None
                error.close()
            except (urllib.error.URLError, OSError) as error:  # refused, unreachable, timed out
                status, problem, retryable = None, _reason(error), True
            if not retryable or attempts > self.retries:
                return Delivery(False, attempts, status, problem)
            backoff = min(0.5 * 2 ** (attempts - 1), _MAX_BACKOFF_S)
            sleep(min(max(backoff, retry_after or 0.0), _MAX_BACKOFF_S))


@dataclass(frozen=True, slots=True)
class Delivery:
    """How sending one event to one channel went."""

    ok: bool
    attempts: int = 1
    status: int | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The outcome as recorded in an alert's ``notified``."""
        outcome: dict[str, Any] = {"ok": self.ok, "attempts": self.attempts}
        if self.status is not None:
            outcome["status"] = self.status
        if self.error is not None:
            outcome["error"] = self.error
        return outcome


def parse_channels(channels: Any, *, rule: str) -> list[dict[str, Any]]:
    """The stored form of ``channels`` (``"store"``, ``"log"``, :class:`Webhook`\\ s, or their stored
    dicts), checked; ``"store"`` is always on, so it is kept only when named.

    >>> parse_channels(["log", Webhook("http://127.0.0.1:9000/hook")], rule="fraud-drift")[0]
    {'kind': 'log'}
    """
    if isinstance(channels, str | Webhook | Mapping):
        channels = [channels]
    if not isinstance(channels, Sequence):
        raise AlertRuleError(
            f"The 'channels' of alert rule {rule!r} must be a list of 'store', 'log' or lw.Webhook(url). Got "
            f"{channels!r} instead.",
            field="channels",
            value=repr(channels),
        )
    parsed: list[dict[str, Any]] = []
    for channel in channels:
        if isinstance(channel, str) and channel in CHANNEL_NAMES:
            stored = {"kind": channel}
        elif isinstance(channel, Webhook):
            stored = channel.to_json()
        elif isinstance(channel, Mapping) and channel.get("kind") in (*CHANNEL_NAMES, "webhook"):
            stored = _stored(channel_from_json(channel))
        else:
            hint = (
                " For a webhook, use lw.Webhook(url)."
                if isinstance(channel, str) and "://" in channel
                else ""
            )
            raise AlertRuleError(
                f"Each channel of alert rule {rule!r} must be 'store', 'log' or lw.Webhook(url). Got "
                f"{channel!r} instead.{hint}",
                field="channels",
                value=repr(channel),
            )
        if stored not in parsed:
            parsed.append(stored)
    return parsed


def channel_from_json(stored: Mapping[str, Any]) -> str | Webhook:
    """A channel from its stored form."""
    if stored.get("kind") == "webhook":
        return Webhook(
            str(stored.get("url")),
            timeout_s=stored.get("timeout_s", 5.0),
            retries=stored.get("retries", 2),
            headers=dict(stored.get("headers") or {}),
        )
    return str(stored["kind"])


def channel_key(channel: str | Webhook) -> str:
    """How ``notified`` names a channel: ``log``, ``webhook:<url>``."""
    return channel if isinstance(channel, str) else f"webhook:{channel.url}"


def _stored(channel: str | Webhook) -> dict[str, Any]:
    return {"kind": channel} if isinstance(channel, str) else channel.to_json()


def _loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _seconds(value: str | None) -> float | None:
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to the back-off


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None) or error
    text = str(reason)
    return f"{type(reason).__name__}: {text}" if text else type(reason).__name__
