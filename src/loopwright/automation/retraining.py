"""Retraining: a deployment names its training pipeline, and an alert or new data runs it on the right data.

::

    lw.set_retraining("fraud", lw.RetrainingPolicy(
        pipeline="pipelines.fraud:train",            # module:pipeline, or path/to/file.py:pipeline
        data=lw.RecentPredictions("fraud-recent", window="7d", target="is_fraud"),
        data_param="data",                          # the pipeline parameter that receives it
        on=[lw.on_alert("fraud-drift"), lw.on_alert("fraud-f1")],
        evaluation="fraud-holdout", target="is_fraud",
        plan=lw.RolloutPlan(),
    ))
    lw.retrain("fraud")                              # now, by hand; the scheduler fires the triggers

One retraining (:meth:`Retrainer.retrain`), every step recorded in the ``retrainings`` table:

1. **Data.** ``data`` is a dataset name (its latest version) or :class:`RecentPredictions`: the
   deployment's recent served predictions joined with the labels that arrived, logged as a new version of
   a dataset (inputs as columns, the label as ``target``). It is handed to the pipeline as ``data_param``.
2. **Pipeline.** The training pipeline runs with the policy's parameters, its cause saying why.
3. **Candidate.** What the pipeline returns is registered as the model's next version (a
   :class:`~loopwright.ModelVersion` it registered itself is taken as it is), with production's
   signature, and gets the alias ``candidate``. With ``evaluation`` and ``target`` it is evaluated.
4. **Gates.** The promotion to the deployment's alias is dry-run; a gate that fails (other than a human
   approval, which may come during the rollout) rejects the candidate, taking ``candidate`` off it.
5. **Rollout.** The candidate goes out by the policy's plan; the promotion controller does the rest.

The triggers in ``on`` are registered for a built-in pipeline, :data:`RETRAIN_REF` (``retrain``, with the
deployment as its parameter), so ``loopwright scheduler`` and ``loopwright server`` fire them like any
other trigger, each occasion once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from loopwright._context import default_client
from loopwright._names import validate_key
from loopwright.automation.controller import CANDIDATE_ALIAS, PromotionController, epoch_ms
from loopwright.automation.notify import notify
from loopwright.automation.plan import RolloutPlan, parse_duration
from loopwright.errors import ConflictError, InvalidInputError, InvalidKeyError, RetrainingPolicyError
from loopwright.pipelines.pipeline import pipeline
from loopwright.pipelines.step import step
from loopwright.pipelines.triggers import TriggerSpec
from loopwright.store.retraining import RetrainingRecord, RetrainingStore

if TYPE_CHECKING:
    from datetime import datetime

    import pandas as pd

    from loopwright.client import Client
    from loopwright.registry.version import ModelVersion
    from loopwright.store.triggers import TriggerRecord

__all__ = [
    "RETRAIN_REF",
    "RecentPredictions",
    "Retrainer",
    "RetrainingPolicy",
    "retraining_pipeline",
    "sync_retraining_triggers",
]

logger = logging.getLogger("loopwright.automation")

RETRAIN_REF = "loopwright.automation.retraining:retraining_pipeline"
"""The pipeline the retraining triggers start: it retrains the deployment named by its parameter."""

_ORIGIN = "retraining"  # the origin of the triggers a retraining policy registers
_POLICY_FIELDS = ("pipeline", "model", "params", "data", "data_param", "on", "evaluation", "target", "plan")


@dataclass(frozen=True)
class RecentPredictions:
    """Training data made from what a deployment served: its served predictions of the last ``window``
    that have a label, inputs as columns and the label as column ``target``, logged as a new version of
    dataset ``dataset``. ``label`` is the key of the label in feedback values that are mappings; with
    ``include``, the latest version of that dataset (same columns) comes first, so the model keeps what it
    knew. Fewer than ``min_rows`` labelled rows stop the retraining.

    >>> RecentPredictions("fraud-recent", window="7d", target="is_fraud").window
    '7d'
    """

    dataset: str
    window: str = "7d"
    target: str = "label"
    label: str = "label"
    include: str | None = None
    min_rows: int = 100

    def __post_init__(self) -> None:
        for name in ("dataset", "target", "label", "include"):
            value = getattr(self, name)
            if value is None and name == "include":
                continue
            try:
                validate_key(name, value)
            except InvalidKeyError as error:
                _refuse(f"data.{name}", value, f"a name ({error.message})")
        try:
            parse_duration(self.window, "window")
        except InvalidInputError:
            _refuse("data.window", self.window, "a duration such as '1h', '7d' or '2w'")
        if isinstance(self.min_rows, bool) or not isinstance(self.min_rows, int) or self.min_rows < 1:
            _refuse("data.min_rows", self.min_rows, "a whole number >= 1")

    def to_dict(self) -> dict[str, Any]:
        """Plain values, as policies store them (``kind: recent_predictions``)."""
        return {
            "kind": "recent_predictions",
            "dataset": self.dataset,
            "window": self.window,
            "target": self.target,
            "label": self.label,
            "include": self.include,
            "min_rows": self.min_rows,
        }


@dataclass(frozen=True)
class RetrainingPolicy:
    """How a deployment retrains; checked when built. See the module docstring for the fields.

    ``pipeline`` is ``module:pipeline`` or ``path/to/file.py:pipeline``; ``model`` defaults to the
    deployment's model; ``on`` lists triggers (``lw.on_alert(rule)``, ``lw.new_data(dataset)``); ``plan``
    defaults to :class:`~loopwright.RolloutPlan`'s default.

    >>> RetrainingPolicy("pipelines.fraud:train", data="transactions", data_param="data").data
    'transactions'
    """

    pipeline: str
    model: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    data: str | RecentPredictions | None = None
    data_param: str | None = None
    on: Sequence[TriggerSpec] = ()
    evaluation: str | None = None
    target: str | None = None
    plan: RolloutPlan | None = None

    def __post_init__(self) -> None:
        module, colon, name = self.pipeline.partition(":") if isinstance(self.pipeline, str) else ("", "", "")
        if not colon or not module or not name:
            _refuse(
                "pipeline",
                self.pipeline,
                "a pipeline reference 'module:pipeline' or 'path/to/file.py:pipeline'",
            )
        if self.model is not None:
            _key("model", self.model)
        if not isinstance(self.params, Mapping) or not all(isinstance(key, str) for key in self.params):
            _refuse("params", self.params, "a mapping of parameter names to values")
        object.__setattr__(self, "params", dict(self.params))
        data = self.data
        if isinstance(data, Mapping):
            data = _recent_from_dict(data)
            object.__setattr__(self, "data", data)
        if data is not None and not isinstance(data, RecentPredictions):
            _key("data", data)
        if self.data_param is not None:
            _key("data_param", self.data_param)
            if data is None:
                _refuse("data_param", self.data_param, "given only with data= (the data it receives)")
        if isinstance(self.on, TriggerSpec | str | Mapping) or not isinstance(self.on, Sequence):
            _refuse("on", self.on, "a list of triggers such as [lw.on_alert('fraud-drift')]")
        specs = []
        for item in self.on:
            if isinstance(item, Mapping) and set(item) == {"kind", "spec"}:
                item = TriggerSpec(str(item["kind"]), str(item["spec"]))
            if not isinstance(item, TriggerSpec):
                _refuse(
                    "on", item, "a trigger such as lw.on_alert('fraud-drift') or lw.new_data('transactions')"
                )
            specs.append(item)
        object.__setattr__(self, "on", tuple(dict.fromkeys(specs)))
        if (self.evaluation is None) != (self.target is None):
            missing, given = ("evaluation", "target") if self.evaluation is None else ("target", "evaluation")
            _refuse(
                missing, None, f"given together with {given}= (the evaluation dataset and its label column)"
            )
        if self.evaluation is not None:
            _key(
                "evaluation",
                self.evaluation.partition(":")[0] if isinstance(self.evaluation, str) else self.evaluation,
            )
            _key("target", self.target)
        if self.plan is not None and not isinstance(self.plan, RolloutPlan):
            object.__setattr__(self, "plan", RolloutPlan.from_dict(self.plan))

    def to_dict(self) -> dict[str, Any]:
        """Plain values, as stored per deployment (``plan`` in its stored form)."""
        data = self.data.to_dict() if isinstance(self.data, RecentPredictions) else self.data
        return {
            "pipeline": self.pipeline,
            "model": self.model,
            "params": dict(self.params),
            "data": data,
            "data_param": self.data_param,
            "on": [{"kind": spec.kind, "spec": spec.spec} for spec in self.on],
            "evaluation": self.evaluation,
            "target": self.target,
            "plan": None if self.plan is None else self.plan.to_dict(),
        }

    @classmethod
    def from_dict(cls, document: Any) -> RetrainingPolicy:
        """A policy from :meth:`to_dict`'s form (a YAML mapping); unknown fields are refused."""
        if isinstance(document, RetrainingPolicy):
            return document
        if not isinstance(document, Mapping):
            _refuse("policy", document, f"a mapping of {', '.join(_POLICY_FIELDS)}")
        unknown = sorted(str(key) for key in document if key not in _POLICY_FIELDS)
        if unknown:
            _refuse("policy", unknown, f"a mapping of {', '.join(_POLICY_FIELDS)}")
        if "pipeline" not in document:
            _refuse("pipeline", None, "a pipeline reference 'module:pipeline'")
        return cls(**{str(key): value for key, value in document.items()})


def _recent_from_dict(document: Mapping[str, Any]) -> RecentPredictions:
    values = {str(key): value for key, value in document.items() if key != "kind"}
    if document.get("kind", "recent_predictions") != "recent_predictions":
        _refuse("data.kind", document.get("kind"), "'recent_predictions'")
    try:
        return RecentPredictions(**values)
    except TypeError:
        _refuse(
            "data", dict(document), "a dataset name or {kind: recent_predictions, dataset: ..., window: ...}"
        )


class Retrainer:
    """Runs the retraining of a deployment on ``client``'s workspace; see the module docstring."""

    def __init__(self, client: Client, controller: PromotionController | None = None) -> None:
        self.client = client
        self.store = RetrainingStore(client.store)
        self.controller = controller or PromotionController(client)

    def set_policy(
        self, deployment: str, policy: RetrainingPolicy | Mapping[str, Any] | None
    ) -> list[TriggerRecord]:
        """Store ``deployment``'s policy (``None`` removes it) and register its triggers; returns them.
        The pipeline is imported and the parameters checked against it now."""
        from loopwright.pipelines.pipeline import coerce_params, load_pipeline

        current = self.client.deployments.get(deployment)
        if policy is None:
            self.store.delete_policy(deployment)
            return sync_retraining_triggers(self.client, deployment, ())
        chosen = RetrainingPolicy.from_dict(policy)
        if chosen.model is not None and chosen.model != current.model:
            _refuse("model", chosen.model, f"{current.model!r}, the model deployment {deployment!r} serves")
        target = load_pipeline(chosen.pipeline)
        params = dict(chosen.params)
        if chosen.data_param is not None:
            if chosen.data_param not in target.parameters:
                _refuse(
                    "data_param",
                    chosen.data_param,
                    f"a parameter of pipeline {target.name!r} ({', '.join(target.parameters) or 'none'})",
                )
            params[chosen.data_param] = _placeholder()
        coerce_params(target, params)  # unknown names, missing values and wrong types fail now
        self.store.set_policy(deployment, chosen.to_dict(), self.client.registry.user)
        return sync_retraining_triggers(self.client, deployment, chosen.on)

    def policy(self, deployment: str) -> RetrainingPolicy | None:
        """The stored policy of ``deployment``, or ``None``."""
        stored = self.store.policy(deployment)
        return None if stored is None else RetrainingPolicy.from_dict(stored)

    def retrain(
        self, deployment: str, *, cause: str = "manual", now: datetime | int | None = None
    ) -> RetrainingRecord:
        """Retrain ``deployment`` now, by its policy; returns the record (``rolling_out`` with the rollout,
        or ``rejected`` with the gates' report). A step that fails is recorded (``failed``) and raised."""
        from loopwright.registry.promotion import check_promotion

        policy = self.policy(deployment)
        if policy is None:
            raise RetrainingPolicyError(
                f"Deployment {deployment!r} has no retraining policy. Give it one with "
                f"lw.set_retraining({deployment!r}, lw.RetrainingPolicy(pipeline='module:pipeline', ...)).",
                deployment=deployment,
            )
        moment = epoch_ms(now)
        record = self.store.start(deployment, cause, at_ms=moment)
        channels = [] if policy.plan is None else list(policy.plan.notify)
        channels = channels or [{"kind": "log"}]
        try:
            current = self.client.deployments.get(deployment)
            data = self._data(deployment, policy, record.id, moment)
            if data is not None:
                record = self.store.update(record.id, dataset=f"{data[0]}:{data[1]}")
            run = self._run(policy, data, record.id, cause)
            record = self.store.update(record.id, pipeline_run_id=run.run_id)
            production = self.client.deployments.resolve(current).production
            candidate = self._candidate(production, run, record.id, cause)
            record = self.store.update(record.id, model=candidate.name, version=candidate.version)
            if policy.evaluation is not None and policy.target is not None:
                from loopwright.registry.evaluation import evaluate

                evaluate(self.client.registry, candidate, policy.evaluation, target=policy.target)
            report = (
                None
                if current.alias is None
                else check_promotion(self.client.registry, candidate, current.alias)
            )
            gates = None if report is None else report.to_dict()
            blocking = (
                [] if report is None else [r for r in report.results if not r.passed and r.kind != "approval"]
            )
            if blocking:
                reason = "; ".join(f"{result.name}: {result.message}" for result in blocking)
                self.client.registry.remove_alias(
                    candidate.name, CANDIDATE_ALIAS, reason=f"rejected by retraining {record.id}: {reason}"
                )
                record = self.store.update(
                    record.id, at_ms=moment, gates=gates, status="rejected", error=reason
                )
                self._tell(channels, record, f"version {candidate.version} rejected by the gates: {reason}")
                return record
            rollout = self.controller.start(
                deployment, candidate, policy.plan, cause=f"retraining {record.id}: {cause}", now=moment
            )
            record = self.store.update(
                record.id, at_ms=moment, gates=gates, rollout_id=rollout.id, status="rolling_out"
            )
            self._tell(
                channels, record, f"version {candidate.version} registered; rollout {rollout.id} started"
            )
            return record
        except Exception as error:
            failed = self.store.update(record.id, at_ms=moment, status="failed", error=_describe(error))
            self._tell(channels, failed, f"failed: {_describe(error)}")
            raise

    # --- the steps -------------------------------------------------------------------------------------

    def _data(
        self, deployment: str, policy: RetrainingPolicy, retraining_id: int, moment: int
    ) -> tuple[str, int] | None:
        """The dataset version the pipeline trains on, as ``(name, version)``, or ``None``."""
        if policy.data is None:
            return None
        if isinstance(policy.data, str):
            found = self.client.datasets.get(policy.data)
            return found.name, found.version
        source = policy.data
        frame = self._recent(deployment, source, moment)
        if len(frame) < source.min_rows:
            raise RetrainingPolicyError(
                f"Retraining deployment {deployment!r} needs at least {source.min_rows} labelled "
                f"predictions from the last {source.window} (the policy's data.min_rows); the prediction log "
                f"has {len(frame)}. Wait for more labels, or lower min_rows.",
                deployment=deployment,
                rows=len(frame),
            )
        if source.include is not None:
            import pandas as pd

            base = self.client.datasets.get(source.include).to_pandas()
            frame = pd.concat([base, frame[[column for column in frame.columns if column in base.columns]]])
        version = self.client.datasets.log(
            source.dataset,
            frame.reset_index(drop=True),
            description=f"recent labelled predictions of {deployment!r} (retraining {retraining_id})",
        )
        return version.name, version.version

    def _recent(self, deployment: str, source: RecentPredictions, moment: int) -> pd.DataFrame:
        """Served predictions of the window with a label: inputs as columns, the label as ``target``."""
        import pandas as pd

        from loopwright.monitoring.performance import label_of
        from loopwright.monitoring.windows import SERVED_VARIANTS

        window = parse_duration(source.window, "window") or 0
        log = self.client.prediction_log.query(deployment, moment - window, moment + 1)
        log = log[log["variant"].isin(SERVED_VARIANTS)]
        if log.empty:
            return pd.DataFrame()
        known = self.client.feedback.get(deployment, list(dict.fromkeys(log["request_id"])))
        labels = {
            request_id: label_of(value, source.label)
            for request_id, value in zip(known["request_id"], known["value"], strict=True)
        }
        rows = [
            {**inputs, source.target: labels[request_id]}
            for request_id, inputs in zip(log["request_id"], log["inputs"], strict=True)
            if labels.get(request_id) is not None and isinstance(inputs, Mapping)
        ]
        return pd.DataFrame.from_records(rows)

    def _run(
        self, policy: RetrainingPolicy, data: tuple[str, int] | None, retraining_id: int, cause: str
    ) -> Any:
        from loopwright.pipelines.graph import DataRef
        from loopwright.pipelines.runner import run_pipeline

        params = dict(policy.params)
        if data is not None and policy.data_param is not None:
            params[policy.data_param] = DataRef(*data)  # resolved by the run, which records it as its input
        return run_pipeline(
            policy.pipeline, params, client=self.client, trigger_cause=f"retraining {retraining_id}: {cause}"
        )

    def _candidate(self, production: ModelVersion, run: Any, retraining_id: int, cause: str) -> ModelVersion:
        """The version the run produced: registered now (with production's signature) unless the pipeline
        registered it itself; it gets the ``candidate`` alias."""
        from loopwright.registry.signature import Signature
        from loopwright.registry.version import ModelVersion

        registry = self.client.registry
        model = production.name
        output = run.output
        if isinstance(output, ModelVersion):
            if output.name != model:
                raise RetrainingPolicyError(
                    f"The training pipeline registered a version of model {output.name!r}; the deployment "
                    f"serves {model!r}. Register it under {model!r}, or return the model object and let the "
                    "retraining register it.",
                    model=output.name,
                )
            candidate = output
        else:
            signature = production.signature
            candidate = registry.register(
                model,
                output,
                run_id=run.run_id,
                signature=None if signature is None else Signature.from_dict(signature),
                description=f"retrained by retraining {retraining_id}: {cause}",
                tags={"retraining": str(retraining_id)},
            )
        reason = f"retraining {retraining_id}: {cause}"
        try:
            registry.set_alias(candidate, CANDIDATE_ALIAS, reason=reason)
        except ConflictError:  # the alias has a promotion policy: it moves through its gates
            from loopwright.registry.promotion import promote

            promote(registry, candidate, CANDIDATE_ALIAS, reason=reason)
        return candidate

    def _tell(self, channels: Sequence[Mapping[str, Any]], record: RetrainingRecord, what: str) -> None:
        text = f"[retraining {record.id}] {record.deployment}: {what} ({record.cause})."
        notify(channels, record.status, text, record.to_dict(), subject_name="retraining")


def sync_retraining_triggers(
    client: Client, deployment: str, specs: Sequence[TriggerSpec]
) -> list[TriggerRecord]:
    """Make the retraining triggers of ``deployment`` exactly ``specs``: each starts pipeline
    ``retrain-<deployment>`` (:data:`RETRAIN_REF`) with the deployment as its parameter."""
    from loopwright.store.triggers import TriggerCatalog

    catalog = TriggerCatalog(client.store)
    name = f"retrain-{deployment}"
    wanted = {(spec.kind, spec.spec) for spec in specs}
    have = {
        (record.kind, record.spec): record
        for record in catalog.list_triggers(name)
        if record.origin == _ORIGIN
    }
    for key, record in have.items():
        if key not in wanted:
            catalog.remove(record.id)
    for spec in specs:
        if (spec.kind, spec.spec) not in have:
            catalog.add(
                name, RETRAIN_REF, spec.kind, spec.spec, params={"deployment": deployment}, origin=_ORIGIN
            )
    return [record for record in catalog.list_triggers(name) if record.origin == _ORIGIN]


# --- the pipeline the triggers start ---------------------------------------------------------------------


@step(cache=False)
def retrain_deployment(deployment: str) -> dict[str, Any]:
    """Retrain ``deployment`` by its policy (never cached: each firing is a new retraining)."""
    client = default_client()
    return Retrainer(client).retrain(deployment, cause=_firing_cause(client)).to_dict()


@pipeline(name="retrain", description="Retrain a deployment by its retraining policy.")
def retraining_pipeline(deployment: str) -> Any:
    """Retrain ``deployment`` by its retraining policy (what the retraining triggers start)."""
    return retrain_deployment(deployment)


def _firing_cause(client: Any) -> str:
    """Why the pipeline run around this step started (its trigger's cause), else ``manual``."""
    from loopwright.store.pipelines import PipelineCatalog

    active = client.tracker.active_run()
    try:
        parent = client.store.get_run(active.id).parent_id if active is not None else None
        cause = PipelineCatalog(client.store).get_pipeline_run(parent).trigger_cause if parent else None
    except LookupError:
        cause = None
    return str(cause) if cause else "manual"


def _placeholder() -> Any:
    from loopwright.pipelines.graph import DataRef

    return DataRef("placeholder")  # a dataset value: the parameter's type is checked, the data is not read


def _key(name: str, value: Any) -> str:
    try:
        return validate_key(name, value)
    except InvalidKeyError as error:
        _refuse(name, value, f"a name ({error.message})")


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _refuse(name: str, value: Any, expected: str) -> NoReturn:
    raise RetrainingPolicyError(
        f"The '{name}' of a retraining policy must be {expected}. Got {value!r} instead.",
        field=name,
        value=repr(value),
    )
