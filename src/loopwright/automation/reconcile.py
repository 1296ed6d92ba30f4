"""Reconciling a workspace with its configuration file: ``loopwright plan`` and ``loopwright apply``.

:func:`plan` compares each declared object with the workspace and lists what :func:`apply` would do:
create, update, or (with ``prune``) delete, object by object, like ``terraform plan``. :func:`apply` does it
through the same services the SDK uses, in dependency order (schemas, deployments, triggers, promotion
policies, retraining policies, monitors, alert rules), so a second apply finds nothing to change.

Objects the file does not name are left alone unless ``prune``; then monitors, alert rules, promotion and
retraining policies that the file does not declare are deleted, and so are triggers registered by an earlier
apply (origin ``config``). Triggers declared by pipeline code or added on the command line, dataset schemas
and deployments are never deleted: schemas are versioned history, and a deployment serves traffic.

An object whose prerequisite is not there yet (a policy of a model never registered, a deployment of an
alias that points nowhere) is listed as ``wait`` with the reason and skipped; a later apply sets it up.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopwright.automation.config import WorkspaceConfig
from loopwright.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from loopwright.client import Client

__all__ = ["ACTIONS", "CONFIG_ORIGIN", "Change", "ReconcilePlan", "apply", "plan"]

CONFIG_ORIGIN = "config"
"""The ``origin`` of the triggers that :func:`apply` registers (``code`` and ``cli`` are others')."""

ACTIONS = ("create", "update", "delete", "wait")
"""What a :class:`Change` does; ``wait`` is skipped until its prerequisite exists."""

_REASON = "loopwright apply"


@dataclass(frozen=True)
class Change:
    """One object to change: ``action`` (:data:`ACTIONS`) on ``kind`` ``name``, with what differs in
    ``details`` (``field: old -> new`` lines) or, for ``wait``, why.

    >>> Change("create", "monitor", "fraud-drift").describe()
    '+ monitor fraud-drift'
    """

    action: str
    kind: str
    name: str
    details: tuple[str, ...] = ()
    run: Callable[[], object] | None = field(default=None, compare=False, repr=False)

    def describe(self) -> str:
        """One line: a sign (``+`` create, ``~`` update, ``-`` delete, ``!`` wait), the kind and the name."""
        sign = {"create": "+", "update": "~", "delete": "-", "wait": "!"}[self.action]
        return f"{sign} {self.kind} {self.name}"


@dataclass(frozen=True)
class ReconcilePlan:
    """What :func:`apply` would change (or changed), in order; ``unchanged`` counts declared objects that
    already match."""

    changes: list[Change]
    unchanged: int

    def count(self, action: str) -> int:
        """How many changes do ``action``."""
        return sum(1 for change in self.changes if change.action == action)

    @property
    def empty(self) -> bool:
        """Whether nothing would change (``wait`` items aside)."""
        return all(change.action == "wait" for change in self.changes)

    def summary(self) -> str:
        """``2 to create, 1 to update, 0 to delete, 1 waiting, 5 unchanged.``"""
        return (
            f"{self.count('create')} to create, {self.count('update')} to update, "
            f"{self.count('delete')} to delete, {self.count('wait')} waiting, {self.unchanged} unchanged."
        )


def plan(client: Client, config: WorkspaceConfig, *, prune: bool = False) -> ReconcilePlan:
    """What :func:`apply` would change in ``client``'s workspace to match ``config``; changes nothing.

    >>> print(lw.plan(lw.load_config()).summary())  # doctest: +SKIP
    1 to create, 0 to update, 0 to delete, 0 waiting, 6 unchanged.
    """
    return _Planner(client, config, prune).plan()


def apply(client: Client, config: WorkspaceConfig, *, prune: bool = False) -> ReconcilePlan:
    """Make ``client``'s workspace match ``config``; returns what was changed. Idempotent: applying the
    same file again changes nothing.

    >>> lw.apply(lw.load_config()).summary()  # doctest: +SKIP
    '1 to create, 0 to update, 0 to delete, 0 waiting, 6 unchanged.'
    """
    # Each stage is planned after the previous one ran: a monitor can only be judged once the deployment it
    # watches exists.
    planner = _Planner(client, config, prune)
    done: list[Change] = []
    unchanged = 0
    for stage in planner.stages():
        changes, same = stage()
        unchanged += same
        for change in changes:
            if change.run is not None and change.action != "wait":
                change.run()
            done.append(change)
    return ReconcilePlan(done, unchanged)


def _plain(value: Any) -> Any:
    """``value`` as JSON gives it back: how stored definitions compare with declared ones."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _differences(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> tuple[str, ...]:
    current, wanted = _plain(dict(current)), _plain(dict(wanted))
    return tuple(
        f"{key}: {json.dumps(current.get(key))} -> {json.dumps(wanted.get(key))}"
        for key in sorted(set(current) | set(wanted))
        if current.get(key) != wanted.get(key)
    )


_Stage = Callable[[], tuple[list[Change], int]]


class _Planner:
    def __init__(self, client: Client, config: WorkspaceConfig, prune: bool) -> None:
        self.client = client
        self.config = config
        self.prune = prune
        self.waiting_deployments: set[str] = set()
        self.waiting_monitors: set[str] = set()

    def stages(self) -> list[_Stage]:
        return [
            self.schemas,
            self.deployments,
            self.triggers,
            self.policies,
            self.retraining,
            self.monitors,
            self.alert_rules,
        ]

    def plan(self) -> ReconcilePlan:
        changes: list[Change] = []
        unchanged = 0
        for stage in self.stages():
            found, same = stage()
            changes.extend(found)
            unchanged += same
        return ReconcilePlan(changes, unchanged)

    # --- stages ----------------------------------------------------------------------------------------

    def schemas(self) -> tuple[list[Change], int]:
        datasets = self.client.datasets
        changes: list[Change] = []
        unchanged = 0
        for name, declared in self.config.datasets.items():
            schema = declared.schema
            if schema is None:
                continue
            run = _bind(datasets.save_schema, name, schema)
            if not datasets.catalog.has_schema(name):
                changes.append(Change("create", "schema", name, (f"from {declared.schema_path}",), run))
            elif datasets.schema(name).content_hash != schema.content_hash:
                changes.append(
                    Change("update", "schema", name, (f"new version from {declared.schema_path}",), run)
                )
            else:
                unchanged += 1
        return changes, unchanged

    def deployments(self) -> tuple[list[Change], int]:
        from loopwright.registry.references import parse_model_reference
        from loopwright.serving.deployments import DEFAULT_ALIAS, Deployment

        service = self.client.deployments
        changes: list[Change] = []
        unchanged = 0
        for name, declared in self.config.deployments.items():
            model, version, alias = parse_model_reference(declared.model)
            alias = None if version is not None else (alias or DEFAULT_ALIAS)
            try:
                if version is not None:
                    self.client.registry.catalog.get_version(model, version)
                else:
                    self.client.registry.resolve(model, alias=alias)
            except NotFoundError as error:
                self.waiting_deployments.add(name)
                changes.append(Change("wait", "deployment", name, (error.message,)))
                continue
            wanted = {"model": model, "alias": alias, "version": version}
            wanted |= {"description": declared.description, "sticky": declared.sticky}
            record = service.store.find(name)
            if record is None:
                run = _bind(
                    service.deploy,
                    name,
                    declared.model,
                    sticky=declared.sticky,
                    description=declared.description,
                    reason=_REASON,
                )
                changes.append(Change("create", "deployment", name, (f"serving {declared.model}",), run))
                continue
            # Canary and shadow are the promotion controller's to set; apply leaves them as they are.
            current = Deployment.from_record(record)
            have = {key: getattr(current, key) for key in wanted}
            details = _differences(have, wanted)
            if not details:
                unchanged += 1
                continue
            run = _bind(
                service.update,
                name,
                model=declared.model,
                sticky=declared.sticky,
                description=declared.description,
                reason=_REASON,
            )
            changes.append(Change("update", "deployment", name, details, run))
        return changes, unchanged

    def triggers(self) -> tuple[list[Change], int]:
        from loopwright.pipelines.pipeline import coerce_params, load_pipeline
        from loopwright.pipelines.triggers import describe
        from loopwright.store.triggers import TriggerCatalog

        catalog = TriggerCatalog(self.client.store)
        records = catalog.list_triggers()
        ours = {(r.pipeline, r.kind, r.spec): r for r in records if r.origin == CONFIG_ORIGIN}
        others = {(r.pipeline, r.kind, r.spec): r for r in records if r.origin != CONFIG_ORIGIN}
        changes: list[Change] = []
        unchanged = 0
        declared_keys = set()
        checked: dict[str, Any] = {}
        for trigger in self.config.triggers:
            key = (trigger.pipeline, trigger.kind, trigger.spec)
            declared_keys.add(key)
            label = f"{trigger.pipeline}: {describe(trigger.kind, trigger.spec)}"
            if trigger.ref not in checked:
                checked[trigger.ref] = load_pipeline(trigger.ref)
                if checked[trigger.ref].name != trigger.pipeline:
                    raise InvalidInputError(
                        f"Pipeline {trigger.pipeline!r} of {self.config.source} has the reference "
                        f"{trigger.ref!r}, which is a pipeline named {checked[trigger.ref].name!r}. Name the "
                        "pipeline in the file as it is named in code.",
                        pipeline=trigger.pipeline,
                        ref=trigger.ref,
                    )
            coerce_params(checked[trigger.ref], trigger.params)  # wrong names or types fail in plan
            if key in others:
                other = others[key]
                changes.append(
                    Change(
                        "wait",
                        "trigger",
                        label,
                        (f"registered already, by {other.origin} (trigger {other.id[:8]}); remove it first",),
                    )
                )
                continue
            add = _bind(
                catalog.add,
                trigger.pipeline,
                trigger.ref,
                trigger.kind,
                trigger.spec,
                params=trigger.params,
                origin=CONFIG_ORIGIN,
            )
            current = ours.get(key)
            if current is None:
                changes.append(Change("create", "trigger", label, (), add))
                continue
            details = _differences(
                {"ref": current.ref, "params": current.params}, {"ref": trigger.ref, "params": trigger.params}
            )
            if not details:
                unchanged += 1
                continue
            changes.append(
                Change("update", "trigger", label, details, _chain(_bind(catalog.remove, current.id), add))
            )
        if self.prune:
            for key, record in ours.items():
                if key not in declared_keys:
                    label = f"{record.pipeline}: {describe(record.kind, record.spec)}"
                    changes.append(Change("delete", "trigger", label, (), _bind(catalog.remove, record.id)))
        return changes, unchanged

    def policies(self) -> tuple[list[Change], int]:
        from loopwright.registry.promotion import get_policy, set_policy

        registry = self.client.registry
        models = {record.name for record in self.client.list_models()}
        changes: list[Change] = []
        unchanged = 0
        for (model, alias), policy in self.config.policies.items():
            label = f"{model}@{alias}"
            if model not in models:
                reason = (
                    f"model {model!r} is not registered yet; the policy is set by the first apply after it is"
                )
                changes.append(Change("wait", "promotion policy", label, (reason,)))
                continue
            run = _bind(set_policy, registry, model, alias, policy)
            current = get_policy(registry, model, alias)
            if current is None:
                changes.append(Change("create", "promotion policy", label, (), run))
            elif details := _differences(current.to_dict(), policy.to_dict()):
                changes.append(Change("update", "promotion policy", label, details, run))
            else:
                unchanged += 1
        if self.prune:
            for model in sorted(models):
                stored = registry.promotions.policies(registry.catalog.model_id(model))
                for alias in sorted(stored):
                    if (model, alias) not in self.config.policies:
                        run = _bind(set_policy, registry, model, alias, None)
                        changes.append(Change("delete", "promotion policy", f"{model}@{alias}", (), run))
        return changes, unchanged

    def retraining(self) -> tuple[list[Change], int]:
        retrainer = self.client.retrainer
        changes: list[Change] = []
        unchanged = 0
        for name, policy in self.config.retraining.items():
            if name in self.waiting_deployments:
                changes.append(
                    Change("wait", "retraining policy", name, (f"deployment {name!r} is waiting",))
                )
                continue
            run = _bind(retrainer.set_policy, name, policy)
            current = retrainer.policy(name)
            if current is None:
                changes.append(
                    Change("create", "retraining policy", name, (f"pipeline {policy.pipeline}",), run)
                )
            elif details := _differences(current.to_dict(), policy.to_dict()):
                changes.append(Change("update", "retraining policy", name, details, run))
            else:
                unchanged += 1
        if self.prune:
            for name in sorted(retrainer.store.policies()):
                if name not in self.config.retraining:
                    run = _bind(retrainer.set_policy, name, None)
                    changes.append(Change("delete", "retraining policy", name, (), run))
        return changes, unchanged

    def monitors(self) -> tuple[list[Change], int]:
        from loopwright.monitoring.monitors import parse_reference
        from loopwright.monitoring.service import _plain_drift, _schema_text

        service = self.client.monitors
        changes: list[Change] = []
        unchanged = 0
        for name, monitor in self.config.monitors.items():
            if monitor.deployment in self.waiting_deployments:
                self.waiting_monitors.add(name)
                reason = f"deployment {monitor.deployment!r} is waiting"
                changes.append(Change("wait", "monitor", name, (reason,)))
                continue
            run = _bind(service.create, monitor)
            current = service.catalog.find(name)
            if current is None:
                changes.append(
                    Change("create", "monitor", name, (f"of deployment {monitor.deployment}",), run)
                )
                continue
            reference = parse_reference(monitor.reference, monitor=name)
            have_reference = dict(current.reference)
            if reference.get("kind") == "dataset" and reference.get("version") is None:
                # The latest version was pinned when the monitor was made; a newer one is no change.
                have_reference["version"] = None
            wanted = {
                "deployment": monitor.deployment,
                "reference": reference,
                "window_ms": monitor.window_ms,
                "window_rows": monitor.rows,
                "columns": None if monitor.columns is None else list(monitor.columns),
                "drift": _plain_drift(monitor),
                "correction": monitor.correction,
                "options": monitor.options(_schema_text(monitor.schema, name)),
            }
            have = current.fields() | {"reference": have_reference}
            if details := _differences({key: have[key] for key in wanted}, wanted):
                changes.append(Change("update", "monitor", name, details, run))
            else:
                unchanged += 1
        if self.prune:
            for record in service.all():
                if record.name not in self.config.monitors:
                    changes.append(
                        Change("delete", "monitor", record.name, (), _bind(service.delete, record.name))
                    )
        return changes, unchanged

    def alert_rules(self) -> tuple[list[Change], int]:
        from loopwright.monitoring.channels import parse_channels

        alerts = self.client.alerts
        current_rules = {record.name: record for record in alerts.rules()}
        changes: list[Change] = []
        unchanged = 0
        for name, rule in self.config.alert_rules.items():
            if rule.monitor in self.waiting_monitors:
                changes.append(Change("wait", "alert rule", name, (f"monitor {rule.monitor!r} is waiting",)))
                continue
            run = _bind(alerts.define, rule)
            current = current_rules.get(name)
            if current is None:
                changes.append(Change("create", "alert rule", name, (f"{rule.monitor}: {rule.when}",), run))
                continue
            fields = ("monitor", "metric", "column", "operator", "threshold", "for_windows", "severity")
            wanted = {key: getattr(rule, key) for key in fields}
            wanted["channels"] = parse_channels(rule.channels, rule=name)
            have = {key: getattr(current, key) for key in (*fields, "channels")}
            if details := _differences(have, wanted):
                changes.append(Change("update", "alert rule", name, details, run))
            else:
                unchanged += 1
        if self.prune:
            for name, record in sorted(current_rules.items()):
                # A rule of a monitor the file does not declare goes with that monitor, pruned above.
                if name not in self.config.alert_rules and record.monitor in self.config.monitors:
                    changes.append(Change("delete", "alert rule", name, (), _bind(alerts.remove, name)))
        return changes, unchanged


def _bind(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[], Any]:
    return lambda: function(*args, **kwargs)


def _chain(*steps: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> None:
        for step in steps:
            step()

    return run
