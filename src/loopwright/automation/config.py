"""The workspace configuration file: ``loopwright.yaml``, the loop declared as text and committed.

::

    version: 1
    datasets:
      transactions:
        schema: schemas/transactions.yaml     # saved as the dataset's schema; checked by `loopwright check`
    pipelines:
      train:
        ref: pipelines/train.py:train         # or module:pipeline
        triggers:
          - cron: "0 3 * * *"
          - new_data: transactions
            params: {n_estimators: 300}
    models:
      fraud:
        policies:
          production: {thresholds: {f1: 0.8}, beat_metric: f1}
    deployments:
      fraud:
        model: fraud@production
        input_example: [{amount: 12.5, country: FR}]
        latency_budget_ms: 50
        rollout: {steps: [{kind: shadow, min_requests: 200}, {kind: canary, weight: 0.1}]}
        retraining: {pipeline: pipelines.train:train, data: transactions, data_param: dataset}
    monitors:
      fraud-drift: {deployment: fraud, reference: "transactions:3", window: 1h}
    alerts:
      fraud-drift-high: {monitor: fraud-drift, when: drift_share > 0.3, channels: [log]}

:func:`load_config` checks the whole file before anything is touched: its shape with pydantic, and every
object by building it with the same class the SDK uses (:class:`~loopwright.PromotionPolicy`,
:class:`~loopwright.Monitor`, ...), so a file is refused for exactly what the SDK would refuse. Errors name
the file, the line and the field (line tracking is :mod:`loopwright.data.schema`'s). Relative paths are read
from the file's folder. :mod:`loopwright.automation.reconcile` applies the result to a workspace.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loopwright.errors import ConfigFileError, InvalidInputError, SchemaFileError

if TYPE_CHECKING:
    from loopwright.automation.retraining import RetrainingPolicy
    from loopwright.data.schema import DataSchema
    from loopwright.monitoring.alerts import AlertRule
    from loopwright.monitoring.monitors import Monitor
    from loopwright.registry.gates import PromotionPolicy

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "DatasetDeclaration",
    "DeploymentDeclaration",
    "ModelCheck",
    "TriggerDeclaration",
    "WorkspaceConfig",
    "load_config",
    "parse_config",
]

DEFAULT_CONFIG_FILE = "loopwright.yaml"
"""The file ``loopwright plan``, ``apply`` and ``check`` read unless told otherwise."""

_T = TypeVar("_T")
_TRIGGER_KINDS = ("cron", "new_data", "alert")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Dataset(_Strict):
    schema_file: str | None = Field(None, alias="schema")
    reference: int | None = Field(None, ge=1)
    psi_threshold: float = Field(0.2, gt=0)


class _Trigger(_Strict):
    cron: str | None = None
    new_data: str | None = None
    alert: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class _Pipeline(_Strict):
    ref: str
    triggers: list[_Trigger] = Field(default_factory=list)


class _Model(_Strict):
    policies: dict[str, dict[str, Any]] = Field(default_factory=dict)
    candidate: str | int = "candidate"
    gate: str = "production"


class _Deployment(_Strict):
    model: str
    description: str | None = None
    sticky: str | None = None
    input_example: list[dict[str, Any]] | str | None = None
    latency_budget_ms: float | None = Field(None, gt=0)
    rollout: dict[str, Any] | None = None
    retraining: dict[str, Any] | None = None


class _Alert(_Strict):
    monitor: str
    when: str
    for_windows: int = 1
    severity: str = "warning"
    channels: list[str | dict[str, Any]] = Field(default_factory=lambda: list[str | dict[str, Any]](["log"]))


class _Document(_Strict):
    version: Literal[1] = 1
    datasets: dict[str, _Dataset] = Field(default_factory=dict)
    pipelines: dict[str, _Pipeline] = Field(default_factory=dict)
    models: dict[str, _Model] = Field(default_factory=dict)
    deployments: dict[str, _Deployment] = Field(default_factory=dict)
    monitors: dict[str, dict[str, Any]] = Field(default_factory=dict)
    alerts: dict[str, _Alert] = Field(default_factory=dict)


@dataclass(frozen=True)
class DatasetDeclaration:
    """A dataset as declared: its schema (read from ``schema_path``), and how ``check`` compares its
    latest version (``reference`` version for value skew, ``psi_threshold``)."""

    name: str
    schema: DataSchema | None
    schema_path: Path | None
    reference: int | None
    psi_threshold: float


@dataclass(frozen=True)
class TriggerDeclaration:
    """A trigger of pipeline ``pipeline`` (import reference ``ref``): ``kind`` and ``spec`` as stored by
    :class:`~loopwright.store.triggers.TriggerCatalog`, with the parameters of the runs it starts."""

    pipeline: str
    ref: str
    kind: str
    spec: str
    params: dict[str, Any]


@dataclass(frozen=True)
class ModelCheck:
    """What ``loopwright check`` tests of model ``model``: version ``candidate`` (an alias or a number)
    against the gates of alias ``gate``."""

    model: str
    candidate: str | int
    gate: str


@dataclass(frozen=True)
class DeploymentDeclaration:
    """A deployment as declared: what it serves (``model``, an alias or a version reference), and what
    ``check`` tests (``input_example`` rows, ``latency_budget_ms`` for one-row predict)."""

    name: str
    model: str
    description: str | None
    sticky: str | None
    input_example: list[dict[str, Any]] | None
    latency_budget_ms: float | None


@dataclass(frozen=True)
class WorkspaceConfig:
    """A checked ``loopwright.yaml``: every object built, keyed by name. Build it with :func:`load_config`.

    >>> config = load_config("loopwright.yaml")  # doctest: +SKIP
    >>> sorted(config.monitors)                   # doctest: +SKIP
    ['fraud-drift']
    """

    source: str
    datasets: dict[str, DatasetDeclaration] = field(default_factory=dict)
    triggers: list[TriggerDeclaration] = field(default_factory=list)
    policies: dict[tuple[str, str], PromotionPolicy] = field(default_factory=dict)
    model_checks: dict[str, ModelCheck] = field(default_factory=dict)
    deployments: dict[str, DeploymentDeclaration] = field(default_factory=dict)
    retraining: dict[str, RetrainingPolicy] = field(default_factory=dict)
    monitors: dict[str, Monitor] = field(default_factory=dict)
    alert_rules: dict[str, AlertRule] = field(default_factory=dict)


def load_config(path: str | Path = DEFAULT_CONFIG_FILE) -> WorkspaceConfig:
    """Read and check a workspace configuration file; :class:`~loopwright.errors.ConfigFileError` names the
    file, the line and the field of the first problem.

    >>> lw.load_config("loopwright.yaml").deployments["fraud"].model  # doctest: +SKIP
    'fraud@production'
    """
    target = Path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigFileError(
            f"The configuration file {str(target)!r} is not UTF-8 text ({error.reason} at byte "
            f"{error.start}); save it as UTF-8.",
            source=str(target),
        ) from None
    except OSError as error:
        raise ConfigFileError(
            f"The configuration file {str(target)!r} cannot be read: {error.strerror or error}. Write one "
            "(see docs/config.md) or pass its path with --file.",
            source=str(target),
        ) from None
    return parse_config(text, source=str(target), root=target.parent)


def parse_config(text: str, *, source: str = "<config text>", root: str | Path = ".") -> WorkspaceConfig:
    """Check configuration ``text``; relative paths in it are read from ``root``."""
    import yaml

    from loopwright.data.schema import _plain

    try:
        node = yaml.compose(text, Loader=_loader())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{source}, line {mark.line + 1}" if mark is not None else source
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigFileError(f"{where}: not valid YAML: {problem}.", source=source) from error
    if node is None:
        return WorkspaceConfig(source=source)
    lines: dict[tuple[str, ...], int] = {}
    try:
        data = _plain(node, (), lines, source, set())
    except SchemaFileError as error:  # the same YAML rules as schema files: no anchors, no duplicate keys
        raise ConfigFileError(
            error.message.replace("schema files", "configuration files"), **error.details
        ) from None
    if not isinstance(data, dict):
        raise ConfigFileError(
            f"{source}, line 1: a configuration file must be a mapping of sections (datasets, pipelines, "
            f"models, deployments, monitors, alerts). Got a {type(data).__name__} instead.",
            source=source,
            line=1,
        )
    try:
        document = _Document.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        location = tuple(str(part) for part in first["loc"])
        # A wrong type in a union reports each alternative: keep the path to the field itself.
        location = tuple(part for part in location if not _is_type_tag(part))
        given = first.get("input")
        shown = "" if isinstance(given, dict | list) or given is None else f" (got {given!r})"
        raise _error(source, lines, location, first["msg"].removeprefix("Value error, ") + shown) from None
    return _Builder(source, lines, Path(root)).build(document)


def _loader() -> Any:
    """A safe YAML loader that reads booleans as YAML 1.2 does: ``on:`` (a retraining policy's triggers)
    and ``no`` (a country code) stay text; only true and false are booleans."""
    import re

    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.yaml_implicit_resolvers = {
        first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    _Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    return _Loader


def _is_type_tag(part: str) -> bool:
    return part in {"str", "int", "float", "bool"} or part.startswith(("list[", "dict[", "literal["))


def _error(source: str, lines: Mapping[tuple[str, ...], int], location: tuple[str, ...], message: str) -> Any:
    from loopwright.data.schema import _nearest_line

    line = _nearest_line(dict(lines), location)
    field_name = ".".join(location) or "(top level)"
    return ConfigFileError(
        f"{source}, line {line}, field {field_name!r}: {message.rstrip('.')}.",
        source=source,
        line=line,
        field=field_name,
    )


class _Builder:
    """Builds the SDK's objects from a shape-checked document, pointing errors at their lines."""

    def __init__(self, source: str, lines: Mapping[tuple[str, ...], int], root: Path) -> None:
        self.source = source
        self.lines = lines
        self.root = root

    def build(self, document: _Document) -> WorkspaceConfig:
        config = WorkspaceConfig(source=self.source)
        for name, dataset in document.datasets.items():
            config.datasets[name] = self._dataset(name, dataset)
        for name, pipeline in document.pipelines.items():
            ref = self._ref(pipeline.ref)
            for index, trigger in enumerate(pipeline.triggers):
                kind, spec = self._trigger(("pipelines", name, "triggers", str(index)), trigger)
                config.triggers.append(TriggerDeclaration(name, ref, kind, spec, dict(trigger.params)))
        for name, model in document.models.items():
            for alias, body in model.policies.items():
                config.policies[(name, alias)] = self._policy(("models", name, "policies", alias), body)
            config.model_checks[name] = ModelCheck(name, model.candidate, model.gate)
        for name, deployment in document.deployments.items():
            config.deployments[name], retraining = self._deployment(name, deployment)
            if retraining is not None:
                config.retraining[name] = retraining
        for name, body in document.monitors.items():
            config.monitors[name] = self._monitor(name, body)
        for name, alert in document.alerts.items():
            config.alert_rules[name] = self._alert(name, alert)
        return config

    def _build(self, location: tuple[str, ...], make: Callable[[], _T]) -> _T:
        try:
            return make()
        except InvalidInputError as error:
            # The SDK's errors name their field: point at its line when the file spells it out.
            named = error.details.get("field")
            if isinstance(named, str):
                head = named.split("[")[0].split(".")[0]
                if (*location, head) in self.lines:
                    location = (*location, head)
            raise _error(self.source, self.lines, location, error.message) from None

    def _path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.root / path

    def _ref(self, ref: str) -> str:
        # A file reference is made absolute so the scheduler finds it from any working directory.
        module, colon, name = ref.rpartition(":")
        if colon and module.endswith(".py"):
            return f"{self._path(module).resolve()}:{name}"
        return ref

    def _dataset(self, name: str, dataset: _Dataset) -> DatasetDeclaration:
        from loopwright.data.schema import DataSchema

        schema: DataSchema | None = None
        path: Path | None = None
        if dataset.schema_file is not None:
            path = self._path(dataset.schema_file)
            try:
                schema = DataSchema.load(path)
            except SchemaFileError as error:
                raise _error(self.source, self.lines, ("datasets", name, "schema"), error.message) from None
        return DatasetDeclaration(name, schema, path, dataset.reference, dataset.psi_threshold)

    def _trigger(self, location: tuple[str, ...], trigger: _Trigger) -> tuple[str, str]:
        from loopwright.pipelines import triggers

        given = [kind for kind in _TRIGGER_KINDS if getattr(trigger, kind) is not None]
        if len(given) != 1:
            raise _error(
                self.source,
                self.lines,
                location,
                f"a trigger needs exactly one of {', '.join(_TRIGGER_KINDS)}. Got "
                f"{', '.join(given) or 'none'} instead",
            )
        kind = given[0]
        value = getattr(trigger, kind)
        where = (*location, kind)
        if kind == "cron":
            return triggers.CRON, self._build(where, lambda: triggers.validate_schedule(value))
        spec = self._build(
            where, lambda: (triggers.new_data if kind == "new_data" else triggers.on_alert)(value)
        )
        return spec.kind, spec.spec

    def _policy(self, location: tuple[str, ...], body: dict[str, Any]) -> PromotionPolicy:
        from loopwright.registry.gates import PromotionPolicy
        from loopwright.registry.references import validate_alias

        self._build(location, lambda: validate_alias(location[-1]))
        return self._build(location, lambda: PromotionPolicy.from_dict(body))

    def _deployment(
        self, name: str, deployment: _Deployment
    ) -> tuple[DeploymentDeclaration, RetrainingPolicy | None]:
        from loopwright.automation.plan import RolloutPlan
        from loopwright.automation.retraining import RetrainingPolicy

        location = ("deployments", name)
        example = deployment.input_example
        if isinstance(example, str):
            example = self._example(location, example)
        declaration = DeploymentDeclaration(
            name, deployment.model, deployment.description, deployment.sticky, example,
            deployment.latency_budget_ms,
        )  # fmt: skip
        plan = None
        if deployment.rollout is not None:
            body = deployment.rollout
            plan = self._build((*location, "rollout"), lambda: RolloutPlan.from_dict(body))
        if deployment.retraining is None:
            if plan is not None:
                raise _error(
                    self.source,
                    self.lines,
                    (*location, "rollout"),
                    "a rollout plan is followed when retraining rolls a candidate out; add a 'retraining:' "
                    "section to this deployment, or remove 'rollout:'",
                )
            return declaration, None
        retraining = dict(deployment.retraining)
        if plan is not None and retraining.get("plan") is not None:
            raise _error(
                self.source,
                self.lines,
                (*location, "retraining", "plan"),
                "the rollout plan is given twice (as 'rollout:' and as 'retraining.plan'); keep one",
            )
        if isinstance(retraining.get("pipeline"), str):
            retraining["pipeline"] = self._ref(retraining["pipeline"])
        if isinstance(retraining.get("on"), list):
            # Written as pipeline triggers are ({alert: fraud-drift}); stored as the SDK's {kind, spec}.
            retraining["on"] = [
                self._retraining_trigger((*location, "retraining", "on", str(index)), item)
                for index, item in enumerate(retraining["on"])
            ]
        policy = self._build((*location, "retraining"), lambda: RetrainingPolicy.from_dict(retraining))
        if plan is not None:
            policy = dataclasses.replace(policy, plan=plan)
        return declaration, policy

    def _retraining_trigger(self, location: tuple[str, ...], item: Any) -> Any:
        if not isinstance(item, dict) or set(item) == {"kind", "spec"}:
            return item  # the SDK's own form, or a mistake that RetrainingPolicy names
        try:
            trigger = _Trigger.model_validate(item)
        except ValidationError:
            raise _error(
                self.source,
                self.lines,
                location,
                f"a retraining trigger is one of {{alert: RULE}}, {{new_data: DATASET}} or {{cron: "
                f"SCHEDULE}}. Got {item!r} instead",
            ) from None
        if trigger.params:
            raise _error(
                self.source,
                self.lines,
                (*location, "params"),
                "a retraining trigger takes no params; give them in the policy's 'params'",
            )
        kind, spec = self._trigger(location, trigger)
        return {"kind": kind, "spec": spec}

    def _example(self, location: tuple[str, ...], value: str) -> list[dict[str, Any]]:
        import json

        path = self._path(value)
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise _error(
                self.source,
                self.lines,
                (*location, "input_example"),
                f"the input example {str(path)!r} cannot be read as JSON ({error})",
            ) from None
        if isinstance(rows, dict):
            rows = [rows]
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise _error(
                self.source,
                self.lines,
                (*location, "input_example"),
                f"the input example {str(path)!r} must hold a JSON object or a list of objects (rows)",
            )
        return rows

    def _monitor(self, name: str, body: dict[str, Any]) -> Monitor:
        from loopwright.monitoring.monitors import Monitor

        known = {item.name for item in dataclasses.fields(Monitor)}
        unknown = sorted(str(key) for key in body if key not in known or key == "name")
        if unknown:
            raise _error(
                self.source,
                self.lines,
                ("monitors", name, unknown[0]),
                f"unknown field {unknown[0]!r}; a monitor takes {', '.join(sorted(known - {'name'}))}",
            )
        options = {**body, "name": name}
        schema = options.get("schema")
        if isinstance(schema, str) and schema.endswith((".yaml", ".yml")):
            options["schema"] = self._path(schema)
        return self._build(("monitors", name), lambda: Monitor(**options))

    def _alert(self, name: str, alert: _Alert) -> AlertRule:
        from loopwright.monitoring.alerts import AlertRule

        channels: list[Any] = list(alert.channels)  # stored dicts ({kind: webhook, url: ...}) are accepted
        return self._build(
            ("alerts", name),
            lambda: AlertRule(
                name,
                monitor=alert.monitor,
                when=alert.when,
                for_windows=alert.for_windows,
                severity=alert.severity,
                channels=channels,
            ),
        )
