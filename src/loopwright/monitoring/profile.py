"""The reference profile: what drift detection needs from the reference data, computed once.

A :class:`ReferenceProfile` holds, per column, the sorted finite values (numeric) or the category counts
(categorical), the missing count and the summary statistics derived from them (mean, standard deviation,
minimum, maximum, distinct values), plus the PCA model of the multivariate method. Windows are compared
against the profile, never against the reference data again, and the profile serialises to a few
``.npz`` bytes (no pickle) so a monitor stores it once as an artifact::

    >>> import numpy as np
    >>> profile = ReferenceProfile.from_data({"amount": np.arange(5.0), "city": ["a", "b", "a", "a", None]})
    >>> profile["amount"].maximum, profile["city"].missing
    (4.0, 1)
    >>> ReferenceProfile.from_bytes(profile.to_bytes())["city"].categories.tolist()
    ['a', 'b']

Keeping every sorted value (8 bytes a row and numeric column) is what makes each statistic equal to
scipy's on the raw data; a reference of a million rows and 20 numeric columns holds 160 MB.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from loopwright.errors import InvalidInputError
from loopwright.monitoring._columns import (
    FloatArray,
    IntArray,
    Kind,
    LabelArray,
    Source,
    category_counts,
    infer_kind,
    numeric_values,
    open_source,
)

__all__ = ["FORMAT", "ColumnProfile", "ReferenceProfile"]

FORMAT = 1
"""Version of the serialised form; bumped when it changes incompatibly."""

_EMPTY_FLOATS: FloatArray = np.zeros(0, dtype=np.float64)
_EMPTY_LABELS: LabelArray = np.zeros(0, dtype=np.str_)
_EMPTY_COUNTS: IntArray = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class ColumnProfile:
    """One reference column. ``values`` are the sorted finite values of a numeric column;
    ``categories`` (sorted) and ``counts`` those of a categorical one. ``rows`` counts every row,
    ``missing`` the null, NaN and infinite ones; the summary fields are ``None`` for a categorical
    column (and for a numeric one without values)."""

    name: str
    kind: Kind
    rows: int
    missing: int
    values: FloatArray
    categories: LabelArray
    counts: IntArray
    unique: int
    mean: float | None
    std: float | None
    minimum: float | None
    maximum: float | None

    @classmethod
    def numeric(cls, name: str, values: FloatArray, rows: int, missing: int) -> ColumnProfile:
        """The profile of a numeric column from its finite values (in any order)."""
        ordered = np.sort(np.asarray(values, dtype=np.float64))
        size = int(ordered.size)
        mean = float(np.mean(ordered)) if size else None
        std = float(np.std(ordered)) if size else None
        return cls(
            name=name,
            kind="numeric",
            rows=rows,
            missing=missing,
            values=ordered,
            categories=_EMPTY_LABELS,
            counts=_EMPTY_COUNTS,
            unique=1 + int(np.count_nonzero(ordered[1:] != ordered[:-1])) if size else 0,
            mean=mean,
            std=std,
            minimum=float(ordered[0]) if size else None,
            maximum=float(ordered[-1]) if size else None,
        )

    @classmethod
    def categorical(
        cls, name: str, categories: LabelArray, counts: IntArray, rows: int, missing: int
    ) -> ColumnProfile:
        """The profile of a categorical column from its labels (sorted, distinct) and their counts."""
        return cls(
            name=name,
            kind="categorical",
            rows=rows,
            missing=missing,
            values=_EMPTY_FLOATS,
            categories=np.asarray(categories, dtype=np.str_),
            counts=np.asarray(counts, dtype=np.int64),
            unique=len(categories),
            mean=None,
            std=None,
            minimum=None,
            maximum=None,
        )

    @property
    def count(self) -> int:
        """Rows with a value (not missing)."""
        return self.rows - self.missing

    @property
    def missing_share(self) -> float:
        """Share of rows with no value (0.0 for an empty reference)."""
        return self.missing / self.rows if self.rows else 0.0

    def quantiles(self, probabilities: Sequence[float] | FloatArray) -> FloatArray:
        """Quantiles of a numeric column (numpy's default, linear interpolation)."""
        if self.kind != "numeric" or not self.values.size:
            return _EMPTY_FLOATS
        return np.quantile(self.values, np.asarray(probabilities, dtype=np.float64))

    def summary(self) -> dict[str, Any]:
        """The column's facts as plain JSON-able values (categories with their counts)."""
        facts: dict[str, Any] = {
            "kind": self.kind,
            "rows": self.rows,
            "missing": self.missing,
            "unique": self.unique,
        }
        if self.kind == "numeric":
            facts.update(mean=self.mean, std=self.std, minimum=self.minimum, maximum=self.maximum)
        else:
            facts["categories"] = dict(zip(self.categories.tolist(), self.counts.tolist(), strict=True))
        return facts


def profile_column(source: Source, name: str, kind: Kind | None = None) -> ColumnProfile:
    """Read column ``name`` of ``source`` and profile it as ``kind`` (default: its inferred kind)."""
    raw = source.column(name)
    if kind is None:
        kind = infer_kind(raw, name, source.role)
    if kind == "numeric":
        values, missing = numeric_values(raw, name, source.role)
        return ColumnProfile.numeric(name, values, source.rows, missing)
    labels, counts, missing = category_counts(raw, name, source.role)
    return ColumnProfile.categorical(name, labels, counts, source.rows, missing)


class ReferenceProfile:
    """Every reference column's profile, and the multivariate model (or ``None``).

    Build it with :meth:`from_data`; store it with :meth:`to_bytes` and read it back with
    :meth:`from_bytes`. ``profile["amount"]`` is a :class:`ColumnProfile`.
    """

    def __init__(
        self, columns: Mapping[str, ColumnProfile], rows: int, multivariate: Any | None = None
    ) -> None:
        self.columns: dict[str, ColumnProfile] = dict(columns)
        self.rows = rows
        # A loopwright.monitoring.multivariate.ReconstructionModel (typed loosely: that module imports this).
        self.multivariate = multivariate

    @classmethod
    def from_data(
        cls,
        data: Any,
        *,
        columns: Sequence[str] | None = None,
        categorical: Sequence[str] = (),
        multivariate: bool = True,
    ) -> ReferenceProfile:
        """Profile ``data`` (see :mod:`loopwright.monitoring._columns` for what it may be).

        ``columns`` limits the profile to those columns (default: all). Integer, float and decimal
        columns are numeric, unless listed in ``categorical``; text, boolean and pandas categorical
        columns are categorical. ``multivariate`` also fits the PCA reconstruction model (two more
        passes over the numeric and categorical values, in batches).
        """
        source = open_source(data, "reference")
        names = _select(source, columns)
        unknown = sorted(set(categorical) - set(names))
        if unknown:
            raise InvalidInputError(
                f"The columns {unknown} named in 'categorical' are not among the profiled columns {names}.",
                field="categorical",
                value=repr(unknown),
            )
        profiles: dict[str, ColumnProfile] = {}
        for name in names:
            profiles[name] = profile_column(source, name, "categorical" if name in categorical else None)
        model = None
        if multivariate:
            from loopwright.monitoring.multivariate import ReconstructionModel

            model = ReconstructionModel.fit(source, list(profiles.values()))
        return cls(profiles, source.rows, model)

    def __getitem__(self, name: str) -> ColumnProfile:
        try:
            return self.columns[name]
        except KeyError:
            raise InvalidInputError(
                f"The reference profile has no column {name!r}. Its columns are {list(self.columns)}.",
                field="column",
                value=name,
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    def __repr__(self) -> str:
        return f"ReferenceProfile(rows={self.rows}, columns={list(self.columns)})"

    def summary(self) -> dict[str, Any]:
        """Rows and each column's :meth:`ColumnProfile.summary`, as JSON-able values."""
        return {
            "rows": self.rows,
            "columns": {name: column.summary() for name, column in self.columns.items()},
        }

    # --- serialisation -----------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The profile as ``.npz`` bytes: a JSON header and plain numeric and text arrays (no pickle)."""
        header: dict[str, Any] = {"format": FORMAT, "rows": self.rows, "columns": []}
        arrays: dict[str, np.ndarray[Any, Any]] = {}
        for position, column in enumerate(self.columns.values()):
            header["columns"].append(
                {"name": column.name, "kind": column.kind, "rows": column.rows, "missing": column.missing}
            )
            if column.kind == "numeric":
                arrays[f"values_{position}"] = column.values
            else:
                arrays[f"categories_{position}"] = column.categories
                arrays[f"counts_{position}"] = column.counts
        if self.multivariate is not None:
            header["multivariate"], model_arrays = self.multivariate.to_parts()
            arrays.update({f"multivariate_{key}": value for key, value in model_arrays.items()})
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ReferenceProfile:
        """Read a profile written by :meth:`to_bytes`."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as stored:
                arrays = {key: stored[key] for key in stored.files}
            header = json.loads(arrays.pop("header").tobytes().decode())
            if header.get("format") != FORMAT:
                raise InvalidInputError(
                    f"The reference profile has format {header.get('format')!r}; this version of Loopwright "
                    f"reads format {FORMAT}. Build the profile again from the reference data.",
                    field="format",
                    value=repr(header.get("format")),
                )
            columns: dict[str, ColumnProfile] = {}
            for position, facts in enumerate(header["columns"]):
                name, rows, missing = str(facts["name"]), int(facts["rows"]), int(facts["missing"])
                if facts["kind"] == "numeric":
                    columns[name] = ColumnProfile.numeric(name, arrays[f"values_{position}"], rows, missing)
                else:
                    columns[name] = ColumnProfile.categorical(
                        name, arrays[f"categories_{position}"], arrays[f"counts_{position}"], rows, missing
                    )
            model = None
            if header.get("multivariate") is not None:
                from loopwright.monitoring.multivariate import ReconstructionModel

                prefix = "multivariate_"
                parts = {key[len(prefix) :]: value for key, value in arrays.items() if key.startswith(prefix)}
                model = ReconstructionModel.from_parts(header["multivariate"], parts)
            return cls(columns, int(header["rows"]), model)
        except InvalidInputError:
            raise
        except (OSError, ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as error:
            raise InvalidInputError(
                f"The bytes are not a Loopwright reference profile ({type(error).__name__}: {error}).",
                field="profile",
                value=f"{len(data)} bytes",
            ) from None


def _select(source: Source, columns: Sequence[str] | None) -> list[str]:
    if columns is None:
        return list(source.names)
    if isinstance(columns, str) or not all(isinstance(name, str) for name in columns):
        raise InvalidInputError(
            f"The 'columns' to profile must be a list of column names. Got {columns!r} instead.",
            field="columns",
            value=repr(columns),
        )
    missing = [name for name in columns if name not in source.names]
    if missing:
        raise InvalidInputError(
            f"The columns {missing} are not in the {source.role} data. Its columns are {source.names}.",
            field="columns",
            value=repr(missing),
        )
    return list(dict.fromkeys(columns))
