"""Model cards: one page per model version, in Markdown and in self-contained HTML.

A card says what the version is for, what it was trained on, how it did (overall and per segment), which
gates it passed on its way to an alias, and where it came from. The content is built once as a list of
sections, and both renderers draw the same sections, so the two formats never disagree.

Everything that comes from users (names, descriptions, tags, segment values, reasons) is escaped: the
HTML page holds no script and loads nothing (a Content-Security-Policy forbids it), and Markdown
metacharacters in user text are neutralised so a description cannot inject links, tables or HTML.

>>> card = lw.model_card("fraud/3")          # doctest: +SKIP
>>> Path("fraud-3.html").write_text(card.to_html())  # doctest: +SKIP
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopwright.registry.registry import Registry
    from loopwright.registry.version import ModelVersion

__all__ = ["ModelCard", "build_card"]


@dataclass(frozen=True, slots=True)
class _Block:
    kind: str  # "text", "table", "list" or "pre"
    text: str = ""
    headers: Sequence[str] = ()
    rows: Sequence[Sequence[str]] = ()
    items: Sequence[str] = ()
    caption: str = ""


@dataclass(frozen=True, slots=True)
class _Section:
    title: str
    blocks: list[_Block] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ModelCard:
    """The card of one model version; render it with :meth:`to_markdown` or :meth:`to_html`."""

    title: str
    sections: list[_Section]

    def to_markdown(self) -> str:
        """The card as GitHub-flavoured Markdown."""
        lines = [f"# {_md(self.title)}", ""]
        for section in self.sections:
            lines += [f"## {_md(section.title)}", ""]
            for block in section.blocks:
                if block.caption:
                    lines += [f"**{_md(block.caption)}**", ""]
                if block.kind == "text":
                    lines += [_md(line) for line in block.text.splitlines()] + [""]
                elif block.kind == "list":
                    lines += [f"- {_md(item)}" for item in block.items] + [""]
                elif block.kind == "pre":
                    fence = "~~~~" if "~~~" in block.text else "~~~"
                    lines += [fence, block.text.replace("\r", ""), fence, ""]
                else:
                    lines.append("| " + " | ".join(_cell(header) for header in block.headers) + " |")
                    lines.append("|" + "|".join(" --- " for _ in block.headers) + "|")
                    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in block.rows]
                    lines.append("")
        return "\n".join(lines).rstrip("\n") + "\n"

    def to_html(self) -> str:
        """The card as one self-contained HTML page (inline style, no script, nothing fetched)."""
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            "style-src 'unsafe-inline'\">",
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_h(self.title)}</title>",
            f"<style>{_STYLE}</style>",
            "</head>",
            "<body>",
            f"<h1>{_h(self.title)}</h1>",
        ]
        for section in self.sections:
            parts.append(f"<section><h2>{_h(section.title)}</h2>")
            for block in section.blocks:
                if block.caption:
                    parts.append(f"<h3>{_h(block.caption)}</h3>")
                if block.kind == "text":
                    parts += [f"<p>{_h(paragraph)}</p>" for paragraph in block.text.split("\n\n")]
                elif block.kind == "list":
                    parts.append("<ul>" + "".join(f"<li>{_h(item)}</li>" for item in block.items) + "</ul>")
                elif block.kind == "pre":
                    parts.append(f"<pre>{_h(block.text)}</pre>")
                else:
                    head = "".join(f"<th>{_h(header)}</th>" for header in block.headers)
                    body = "".join(
                        "<tr>" + "".join(f"<td>{_h(value)}</td>" for value in row) + "</tr>"
                        for row in block.rows
                    )
                    parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            parts.append("</section>")
        parts += ["</body>", "</html>"]
        return "\n".join(parts) + "\n"


def build_card(registry: Registry, version: ModelVersion) -> ModelCard:
    """Gather a version's card from the store: its record, run, data, evaluations, promotions, lineage."""
    record = version.record
    model = registry.catalog.get_model(version.name)
    sections = [
        _Section("Overview", [_overview(registry, version)]),
        _Section("Intended use", [_Block("text", text=_intended_use(version, model.description))]),
        _Section("Training data", [_training_data(version)]),
        _Section("Signature", [_signature(record.signature)]),
        _Section("Evaluation", _evaluations(version)),
        _Section("Gates passed", _promotions(registry, version)),
        _Section("Lineage", [_Block("pre", text=version.lineage().render())]),
    ]
    return ModelCard(f"Model card: {version.name} version {version.version}", sections)


def _overview(registry: Registry, version: ModelVersion) -> _Block:
    record = version.record
    rows = [
        ["Model", version.name],
        ["Version", str(version.version)],
        ["Flavor", version.flavor],
        ["Status", version.status],
        ["Aliases", ", ".join(version.aliases) or "none"],
        ["Registered", _time(version.created_at)],
        ["Registered by", record.created_by or "unknown"],
    ]
    if record.run_id is not None:
        try:
            run = registry.store.get_run(record.run_id)
            rows.append(["Run", f"{run.name} ({run.id}) in experiment {run.experiment}"])
        except LookupError:
            rows.append(["Run", f"{record.run_id} (deleted)"])
    if record.code_version:
        rows.append(
            ["Code", record.code_version + (" (with uncommitted changes)" if record.code_dirty else "")]
        )
    parent = version.fine_tuned_from
    if parent is not None:
        rows.append(["Fine-tuned from", f"{parent.name} version {parent.version}"])
    if record.tags:
        rows.append(["Tags", ", ".join(f"{key}={value}" for key, value in sorted(record.tags.items()))])
    return _Block("table", headers=["", ""], rows=rows)


def _intended_use(version: ModelVersion, model_description: str | None) -> str:
    parts = [
        text for text in (version.tags.get("intended_use"), model_description, version.description) if text
    ]
    if not parts:
        return "Not stated. Describe it in the model's description or an 'intended_use' tag of the version."
    return "\n\n".join(dict.fromkeys(parts))


def _training_data(version: ModelVersion) -> _Block:
    datasets = version.datasets()
    if not datasets:
        return _Block("text", text="No training data is recorded for this version.")
    rows = [
        [
            f"{data.name}:{data.version}",
            f"{data.num_rows:,}",
            str(data.num_columns),
            data.content_hash[:12],
            data.check_status,
        ]
        for data in datasets
    ]
    return _Block("table", headers=["Dataset version", "Rows", "Columns", "Content", "Checks"], rows=rows)


def _signature(signature: dict[str, Any] | None) -> _Block:
    inputs = (signature or {}).get("inputs") or []
    if not inputs:
        return _Block("text", text="No signature: inputs are not checked.")
    rows = [
        [str(item.get("name") or "(tensor)"), str(item.get("type")), _shape(item.get("shape"))]
        for item in inputs
    ]
    return _Block("table", headers=["Input", "Type", "Shape"], rows=rows)


def _evaluations(version: ModelVersion) -> list[_Block]:
    evaluations = version.evaluations()
    if not evaluations:
        return [_Block("text", text="Not evaluated yet.")]
    blocks = []
    for evaluation in reversed(evaluations):
        caption = (
            f"On {evaluation.dataset}: target {evaluation.target}, {evaluation.num_rows:,} rows, "
            f"{evaluation.task}, {_time(evaluation.created_at)}"
        )
        metrics = evaluation.metrics
        blocks.append(
            _Block(
                "table",
                caption=caption,
                headers=["Metric", "Value"],
                rows=[[name, _number(value)] for name, value in metrics.items()],
            )
        )
        matrix = evaluation.confusion_matrix
        if matrix is not None and matrix.get("labels"):
            labels = [str(label) for label in matrix["labels"]]
            rows = [
                [label, *map(str, counts)] for label, counts in zip(labels, matrix["matrix"], strict=False)
            ]
            blocks.append(
                _Block(
                    "table",
                    caption="Confusion matrix (rows: label, columns: prediction)",
                    headers=["", *labels],
                    rows=rows,
                )
            )
        names = list(metrics)
        segment_rows = [
            [column, value, str(values.get("rows", "")), *(_number(values.get(name)) for name in names)]
            for column, by_value in evaluation.segments.items()
            for value, values in by_value.items()
        ]
        if segment_rows:
            blocks.append(
                _Block(
                    "table",
                    caption="By segment",
                    headers=["Segment", "Value", "Rows", *names],
                    rows=segment_rows,
                )
            )
    return blocks


def _promotions(registry: Registry, version: ModelVersion) -> list[_Block]:
    events = [
        event
        for event in registry.ledger.history(version.name)
        if event.to_version == version.version and event.action == "promote"
    ]
    if not events:
        return [_Block("text", text="Not promoted through gates yet.")]
    blocks = []
    for event in events:
        forced = " (forced: " + (event.reason or "") + ")" if event.forced else ""
        caption = f"To {event.alias} on {_time(event.created_at)} by {event.user or 'unknown'}{forced}"
        results = (event.gates or {}).get("results") or []
        if not results:
            blocks.append(_Block("text", caption=caption, text="The alias had no policy: no gates applied."))
            continue
        rows = [
            [
                "passed" if result.get("passed") else "FAILED",
                str(result.get("name")),
                str(result.get("message")),
            ]
            for result in results
        ]
        blocks.append(_Block("table", caption=caption, headers=["Outcome", "Gate", "Detail"], rows=rows))
    return blocks


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1f2328}"
    "h1{font-size:1.6rem}h2{font-size:1.25rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}"
    "h3{font-size:1rem}table{border-collapse:collapse;margin:.5rem 0 1rem}"
    "th,td{border:1px solid #d0d7de;padding:.25rem .6rem;text-align:left;vertical-align:top}"
    "th{background:#f6f8fa}pre{background:#f6f8fa;padding:.75rem;overflow-x:auto}"
)

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]#|~])")


def _md(text: str) -> str:
    """User text made inert in Markdown: HTML characters as entities, metacharacters backslashed."""
    escaped = html.escape(str(text), quote=False)
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", escaped)
    # A line starting "1. ", "- " or "+ " would become a list item.
    return re.sub(r"^(\s*)(\d+)\.(\s)", r"\1\2\\.\3", re.sub(r"^(\s*)([-+])(\s)", r"\1\\\2\3", escaped))


def _cell(text: str) -> str:
    return _md(" ".join(str(text).split()))


def _h(text: str) -> str:
    return html.escape(str(text), quote=True)


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _number(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _shape(shape: Any) -> str:
    if not shape:
        return ""
    return "(" + ", ".join("any" if size == -1 else str(size) for size in shape) + ")"
