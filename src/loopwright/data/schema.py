"""Data schemas: the expectations a dataset must meet, as a YAML file people edit and commit.

::

    dataset: transactions
    allow_extra_columns: false
    columns:
      amount:
        type: float64
        nullable: false
        min: 0.0
        max: 25000.0
      merchant_category:
        type: string
        categories: [grocery, travel, online]

A schema is inferred from a reference version (:func:`infer_schema`), saved and edited as text, and
versioned in the workspace like the data itself. A file with a mistake is refused with an error that names
the file, the line and the field.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from loopwright.errors import SchemaFileError

__all__ = ["CATEGORY_LIMIT", "ColumnSchema", "DataSchema", "SchemaFileError", "infer_schema"]

CATEGORY_LIMIT = 20
"""A text column with at most this many distinct values gets an allowed-category list when inferred."""

_TYPES = {"bool", "int64", "float64", "string", "date32[day]"}


class ColumnSchema(BaseModel):
    """What one column must look like."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(
        description="Canonical type: bool, int64, float64, string, date32[day] or timestamp[us…]."
    )
    nullable: bool = Field(True, description="Whether missing values are allowed.")
    min: float | None = Field(None, description="Smallest allowed value (numeric columns).")
    max: float | None = Field(None, description="Largest allowed value (numeric columns).")
    categories: list[str] | None = Field(
        None, description="Allowed values (text columns); others are unseen."
    )

    @model_validator(mode="after")
    def _consistent(self) -> ColumnSchema:
        if self.type not in _TYPES and not self.type.startswith("timestamp[us"):
            raise ValueError(
                f"type must be one of {', '.join(sorted(_TYPES))} or timestamp[us] / timestamp[us, tz=…]. "
                f"Got {self.type!r} instead"
            )
        if (self.min is not None or self.max is not None) and self.type not in {"int64", "float64"}:
            raise ValueError(f"min / max apply to int64 and float64 columns, not to {self.type}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.categories is not None and self.type not in {"string", "bool"}:
            raise ValueError(f"categories apply to string columns, not to {self.type}")
        return self


class DataSchema(BaseModel):
    """The expectations for a dataset: its columns, their types, nullability, ranges and categories."""

    model_config = ConfigDict(extra="forbid")

    dataset: str | None = Field(None, description="The dataset this schema was written for (informative).")
    allow_extra_columns: bool = Field(False, description="Whether columns not listed here are accepted.")
    columns: dict[str, ColumnSchema]

    # --- text ----------------------------------------------------------------------------------------

    def to_yaml(self) -> str:
        """The schema as readable YAML (stable key order, so diffs stay small)."""
        import yaml

        body: dict[str, Any] = {}
        if self.dataset is not None:
            body["dataset"] = self.dataset
        body["allow_extra_columns"] = self.allow_extra_columns
        body["columns"] = {
            name: column.model_dump(exclude_none=True, exclude_defaults=False)
            for name, column in self.columns.items()
        }
        for column in body["columns"].values():
            if column.get("nullable") is True:
                del column["nullable"]  # the default; keep files short
        return str(
            yaml.safe_dump(body, sort_keys=False, default_flow_style=None, width=110, allow_unicode=True)
        )

    @property
    def content_hash(self) -> str:
        """sha256 of the canonical YAML text (what identifies a schema version)."""
        return hashlib.sha256(self.to_yaml().encode()).hexdigest()

    def save(self, path: str | Path) -> Path:
        """Write the YAML to ``path`` (creating folders); returns the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.to_yaml(), encoding="utf-8")
        return target

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "<schema text>") -> DataSchema:
        """Parse and validate YAML; errors name ``source``, the line and the field."""
        import yaml

        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f"{source}, line {mark.line + 1}" if mark is not None else source
            problem = getattr(error, "problem", None) or str(error)
            raise SchemaFileError(f"{where}: not valid YAML: {problem}.", source=source) from error
        if node is None:
            raise SchemaFileError(
                f"{source} is empty; a schema needs at least a 'columns:' mapping.", source=source
            )
        lines: dict[tuple[str, ...], int] = {}
        data = _plain(node, (), lines, source, set())
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            first = error.errors()[0]
            location = tuple(str(part) for part in first["loc"])
            line = _nearest_line(lines, location)
            field = ".".join(location) or "(top level)"
            message = first["msg"].removeprefix("Value error, ")
            given = first.get("input")
            shown = "" if isinstance(given, dict | list) or given is None else f" (got {given!r})"
            raise SchemaFileError(
                f"{source}, line {line}, field {field!r}: {message}{shown}.",
                source=source,
                line=line,
                field=field,
            ) from None

    @classmethod
    def load(cls, path: str | Path) -> DataSchema:
        """Read a schema file."""
        target = Path(path)
        try:
            text = target.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise SchemaFileError(
                f"The schema file {str(target)!r} is not UTF-8 text ({error.reason} at byte {error.start}); "
                "save it as UTF-8.",
                source=str(target),
            ) from None
        except OSError as error:
            raise SchemaFileError(
                f"The schema file {str(target)!r} cannot be read: {error}.", source=str(target)
            ) from error
        return cls.from_yaml(text, source=str(target))


def _plain(
    node: Any, path: tuple[str, ...], lines: dict[tuple[str, ...], int], source: str, seen: set[int]
) -> Any:
    """A composed YAML node as plain Python, recording the line of every mapping key and item.

    Anchors and aliases (``&a`` / ``*a``) are refused: a schema has no use for them, and expanding them is
    how a small file becomes an enormous (or endless) one."""
    import yaml

    line = node.start_mark.line + 1
    if id(node) in seen:
        raise SchemaFileError(
            f"{source}, line {line}: anchors and aliases (&name, *name) are not supported in schema files; "
            "write the values out.",
            source=source,
            line=line,
        )
    seen.add(id(node))
    lines[path] = line
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                raise SchemaFileError(
                    f"{source}, line {key_line}: a key must be a plain name (no lists, mappings or '<<' "
                    "merges).",
                    source=source,
                    line=key_line,
                )
            key = yaml.SafeLoader("").construct_object(key_node)
            if key in result:
                raise SchemaFileError(
                    f"{source}, line {key_line}: the key {key!r} appears twice in the same mapping.",
                    source=source,
                    line=key_line,
                )
            child = (*path, str(key))
            lines[child] = key_line
            result[key] = _plain(value_node, child, lines, source, seen)
            lines[child] = key_line
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _plain(item, (*path, str(index)), lines, source, seen) for index, item in enumerate(node.value)
        ]
    return yaml.SafeLoader("").construct_object(node)


def _nearest_line(lines: dict[tuple[str, ...], int], location: tuple[str, ...]) -> int:
    for size in range(len(location), -1, -1):
        line = lines.get(location[:size])
        if line is not None:
            return line
    return 1


def infer_schema(profile: dict[str, Any], *, dataset: str | None = None) -> DataSchema:
    """A schema that the profiled data satisfies: its types, nullability, value ranges and (for text
    columns with at most :data:`CATEGORY_LIMIT` values) its categories. Edit it to loosen or tighten."""
    columns: dict[str, ColumnSchema] = {}
    for name, stats in profile["columns"].items():
        kind = stats["kind"]
        options: dict[str, Any] = {"type": stats["type"], "nullable": stats["missing"] > 0}
        if kind == "numeric" and stats.get("min") is not None:
            options["min"] = stats["min"]
            options["max"] = stats["max"]
        if stats["type"] == "string" and stats.get("categories_complete") and stats.get("top"):
            options["categories"] = sorted(str(value) for value, _ in stats["top"])
        columns[name] = ColumnSchema(**options)
    return DataSchema(dataset=dataset, columns=columns)
