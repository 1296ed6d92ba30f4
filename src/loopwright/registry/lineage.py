"""Lineage of a model version: upstream to the runs, data and code that made it, downstream to what
derives from it.

The graph is the metadata store's (runs, artifacts and the events between them), walked from the version:
its run, the run's code (git commit) and inputs, each dataset version's own run and that run's inputs, and
so on; the training datasets recorded with the version; and the version it was fine-tuned from, with its
own lineage. Downstream are the versions fine-tuned from it (transitively) and, once serving exists, its
deployments.

>>> lineage = lw.lineage("fraud/3")                    # doctest: +SKIP
>>> [node.key for node in lineage.datasets]            # doctest: +SKIP
['transactions:4']
>>> print(lineage.render())                            # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopwright.errors import NotFoundError

if TYPE_CHECKING:
    from loopwright.registry.registry import Registry
    from loopwright.registry.version import ModelVersion

__all__ = ["MAX_DEPTH", "Lineage", "LineageNode", "build_lineage"]

MAX_DEPTH = 12
"""How many steps the walk goes from the version in either direction."""


@dataclass(frozen=True, slots=True)
class LineageNode:
    """One thing in the lineage: ``kind`` is ``model_version``, ``run``, ``dataset_version``, ``code`` or
    ``artifact``; ``key`` names it (``fraud/3``, a run id, ``transactions:2``, a commit). ``links`` are
    the next nodes in the walk's direction (upstream: what it came from; downstream: what came from it).
    A node met a second time is shown once more with ``repeated`` set and no links."""

    kind: str
    key: str
    label: str
    details: dict[str, Any] = field(default_factory=dict)
    links: list[LineageNode] = field(default_factory=list)
    repeated: bool = False

    def walk(self) -> list[LineageNode]:
        """This node and every node linked from it, depth first."""
        found = [self]
        for link in self.links:
            found += link.walk()
        return found

    def to_dict(self) -> dict[str, Any]:
        """Plain values (``links`` nested)."""
        return {
            "kind": self.kind,
            "key": self.key,
            "label": self.label,
            "details": self.details,
            "repeated": self.repeated,
            "links": [link.to_dict() for link in self.links],
        }


@dataclass(frozen=True, slots=True)
class Lineage:
    """Where a model version came from (``upstream``) and what derives from it (``downstream``)."""

    version: str
    upstream: list[LineageNode]
    downstream: list[LineageNode]
    deployments: list[dict[str, Any]] = field(default_factory=list)
    """Deployments serving the version: none until serving exists."""

    def _upstream_nodes(self, kind: str) -> list[LineageNode]:
        seen: dict[str, LineageNode] = {}
        for root in self.upstream:
            for node in root.walk():
                if node.kind == kind and not node.repeated:
                    seen.setdefault(node.key, node)
        return list(seen.values())

    @property
    def datasets(self) -> list[LineageNode]:
        """Every dataset version upstream."""
        return self._upstream_nodes("dataset_version")

    @property
    def runs(self) -> list[LineageNode]:
        """Every run upstream."""
        return self._upstream_nodes("run")

    @property
    def code(self) -> list[LineageNode]:
        """Every code version (git commit) upstream."""
        return self._upstream_nodes("code")

    @property
    def ancestors(self) -> list[LineageNode]:
        """The model versions upstream (fine-tuned from, or read by a run)."""
        return self._upstream_nodes("model_version")

    @property
    def dependents(self) -> list[LineageNode]:
        """Every model version derived from this one, transitively."""
        return [node for root in self.downstream for node in root.walk() if not node.repeated]

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for JSON."""
        return {
            "version": self.version,
            "upstream": [node.to_dict() for node in self.upstream],
            "downstream": [node.to_dict() for node in self.downstream],
            "deployments": list(self.deployments),
        }

    def render(self) -> str:
        """The lineage as an indented text tree."""
        lines = [self.version, "  upstream:"]
        lines += _tree(self.upstream, "    ") or ["    (nothing recorded)"]
        lines.append("  downstream:")
        lines += _tree(self.downstream, "    ") or ["    (no version derives from it)"]
        lines.append("  deployments: none")
        return "\n".join(lines)


def build_lineage(registry: Registry, version: ModelVersion) -> Lineage:
    """Walk the metadata store from ``version`` (see the module docstring)."""
    walker = _Walker(registry)
    upstream = walker.version_upstream(version.record.id, depth=0, root=True)
    downstream = walker.downstream(version.record.id, depth=0, seen=set())
    return Lineage(version=f"{version.name}/{version.version}", upstream=upstream, downstream=downstream)


class _Walker:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.seen: set[tuple[str, str]] = set()
        # What is being expanded on the current path: a run may read the very dataset version it logged,
        # and that loop is left out rather than shown.
        self.expanding: set[str] = set()
        self.expanding_datasets: set[str] = set()

    def _first_time(self, kind: str, key: str) -> bool:
        if (kind, key) in self.seen:
            return False
        self.seen.add((kind, key))
        return True

    def version_upstream(self, version_id: str, *, depth: int, root: bool = False) -> list[LineageNode]:
        """The links upstream of a model version: its run, training data and fine-tuning parent."""
        record = self.registry.catalog.get_version_by_id(version_id)
        self.seen.add(("model_version", f"{record.model}/{record.version}"))
        links: list[LineageNode] = []
        if depth >= MAX_DEPTH:
            return links
        if record.run_id is not None:
            links.append(self.run(record.run_id, depth=depth + 1))
        for dataset_id in self.registry.catalog.training_dataset_ids(version_id):
            node = self.dataset(dataset_id, depth=depth + 1)
            if not any(node.key == other.key for link in links for other in link.walk()):
                links.append(node)
        if record.fine_tuned_from_id is not None:
            links.append(self.version(record.fine_tuned_from_id, depth=depth + 1, note="fine-tuned from"))
        return links

    def version(self, version_id: str, *, depth: int, note: str | None = None) -> LineageNode:
        record = self.registry.catalog.get_version_by_id(version_id)
        key = f"{record.model}/{record.version}"
        details = {"flavor": record.flavor, "status": record.status}
        if note:
            details["relation"] = note
        label = f"model {key} ({record.flavor})" + (f", {note}" if note else "")
        if not self._first_time("model_version", key):
            return LineageNode("model_version", key, label, details, repeated=True)
        return LineageNode(
            "model_version", key, label, details, self.version_upstream(version_id, depth=depth)
        )

    def run(self, run_id: str, *, depth: int) -> LineageNode:
        try:
            run = self.registry.store.get_run(run_id)
        except NotFoundError:
            return LineageNode("run", run_id, f"run {run_id[:8]} (deleted)")
        details = {
            "name": run.name,
            "experiment": run.experiment,
            "status": str(run.status),
            "user": run.user,
            "git_commit": run.git_commit,
            "git_dirty": run.git_dirty,
        }
        label = f"run {run.name} ({run.id[:8]}) in {run.experiment}, {run.status}"
        if not self._first_time("run", run_id):
            return LineageNode("run", run_id, label, details, repeated=True)
        links: list[LineageNode] = []
        if run.git_commit:
            dirty = " with uncommitted changes" if run.git_dirty else ""
            links.append(
                LineageNode(
                    "code",
                    run.git_commit,
                    f"code {run.git_commit[:12]}{dirty}",
                    {"git_commit": run.git_commit, "git_dirty": run.git_dirty, "source": run.source},
                )
            )
        if depth < MAX_DEPTH:
            self.expanding.add(run_id)
            for item in self.registry.store.run_artifacts(run_id, "input"):
                node = self._input(item.name, item.artifact.id, item.artifact.kind, depth=depth + 1)
                if node is not None:
                    links.append(node)
            self.expanding.discard(run_id)
        return LineageNode("run", run_id, label, details, links)

    def _input(self, name: str, artifact_id: str, kind: str, *, depth: int) -> LineageNode | None:
        """A run's input: a dataset version or model version when its event name says so, else a file."""
        parts = name.split("/")
        if kind == "dataset" and len(parts) == 3 and parts[0] == "datasets" and parts[2].startswith("v"):
            for dataset_id in self.registry.catalog.dataset_versions_of_artifact(artifact_id):
                record = self.registry.datasets.catalog.get_version_by_id(dataset_id)
                if f"datasets/{record.dataset}/v{record.version}" == name:
                    return (
                        None
                        if dataset_id in self.expanding_datasets
                        else self.dataset(dataset_id, depth=depth)
                    )
        if kind == "model" and len(parts) == 3 and parts[0] == "models" and parts[2][1:].isdigit():
            try:
                model = self.registry.catalog.get_version(parts[1], int(parts[2][1:]))
                return self.version(model.id, depth=depth, note="read by the run")
            except NotFoundError:
                pass
        return LineageNode("artifact", artifact_id, f"{kind} {name}", {"name": name, "kind": kind})

    def dataset(self, dataset_id: str, *, depth: int) -> LineageNode:
        record = self.registry.datasets.catalog.get_version_by_id(dataset_id)
        key = f"{record.dataset}:{record.version}"
        details = {
            "rows": record.num_rows,
            "columns": record.num_columns,
            "content_hash": record.content_hash,
            "check_status": record.check_status,
        }
        label = f"dataset {key} ({record.num_rows:,} rows, checks {record.check_status})"
        if not self._first_time("dataset_version", key):
            return LineageNode("dataset_version", key, label, details, repeated=True)
        producer = record.run_id
        links: list[LineageNode] = []
        if producer is not None and producer not in self.expanding and depth < MAX_DEPTH:
            self.expanding_datasets.add(dataset_id)
            links.append(self.run(producer, depth=depth + 1))
            self.expanding_datasets.discard(dataset_id)
        return LineageNode("dataset_version", key, label, details, links)

    def downstream(self, version_id: str, *, depth: int, seen: set[str]) -> list[LineageNode]:
        """The versions fine-tuned from ``version_id``, each with its own dependents."""
        nodes = []
        for record in self.registry.catalog.dependents(version_id):
            key = f"{record.model}/{record.version}"
            label = f"model {key} ({record.flavor}), fine-tuned from it"
            if record.id in seen or depth >= MAX_DEPTH:
                nodes.append(LineageNode("model_version", key, label, repeated=True))
                continue
            seen.add(record.id)
            links = self.downstream(record.id, depth=depth + 1, seen=seen)
            nodes.append(LineageNode("model_version", key, label, {"status": record.status}, links))
        return nodes


def _tree(nodes: list[LineageNode], indent: str) -> list[str]:
    lines = []
    for node in nodes:
        lines.append(f"{indent}- {node.label}" + (" (see above)" if node.repeated else ""))
        lines += _tree(node.links, indent + "  ")
    return lines
