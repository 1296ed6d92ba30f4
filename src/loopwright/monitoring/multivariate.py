"""Multivariate drift: the PCA reconstruction error of each row (NannyML's data reconstruction drift).

Univariate tests miss a change in how columns move together (two columns that stop being correlated
while each keeps its distribution). The reference is encoded (numeric columns as they are, missing values
replaced by the reference mean; categorical columns by the reference frequency of each category, 0 for a
category the reference never saw), standardised, and compressed by PCA onto the fewest components that
keep 65% of the variance (and at least one fewer than there are columns). A row's reconstruction error is
its distance to its reconstruction from those components. A window drifts when its mean error leaves the
reference mean by more than ``threshold`` standard errors (``threshold * std / sqrt(rows)``: NannyML's
"mean ± 3 standard deviations of chunk values" for chunks of the window's size).

Everything is numpy and streamed in batches of rows, so the reference and the windows never need to be
one matrix in memory.
"""

from __future__ import annotations

import contextlib
import importlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopwright.monitoring._columns import FloatArray, Kind, LabelArray, Source, numeric_array, to_labels
from loopwright.monitoring.profile import ColumnProfile

__all__ = ["VARIANCE", "ReconstructionModel"]

VARIANCE = 0.65
"""Share of the reference's variance the kept components explain (NannyML's default)."""


@dataclass(frozen=True, eq=False)
class _Categories:
    labels: LabelArray  # sorted
    frequency: FloatArray  # share of reference rows with each label
    missing: float  # share of reference rows without a value


@dataclass(frozen=True, eq=False)
class ReconstructionModel:
    """The fitted PCA model and the reference's reconstruction errors (mean, standard deviation)."""

    features: tuple[str, ...]
    kinds: tuple[Kind, ...]
    center: FloatArray
    scale: FloatArray
    components: FloatArray
    explained: float
    error_mean: float
    error_std: float
    rows: int
    categories: dict[str, _Categories]

    @classmethod
    def fit(
        cls, source: Source, columns: Sequence[ColumnProfile], *, variance: float = VARIANCE
    ) -> ReconstructionModel | None:
        """Fit on the reference ``source``; ``None`` when there are fewer than two usable columns or rows."""
        usable = [column for column in columns if column.count > 0]
        if len(usable) < 2 or source.rows < 2:
            return None
        categories = {
            column.name: _Categories(
                column.categories, column.counts / column.rows, column.missing / column.rows
            )
            for column in usable
            if column.kind == "categorical"
        }
        center = np.array([_center(column) for column in usable], dtype=np.float64)
        model = cls(
            features=tuple(column.name for column in usable),
            kinds=tuple(column.kind for column in usable),
            center=center,
            scale=np.ones(len(usable)),
            components=np.eye(len(usable)),
            explained=1.0,
            error_mean=0.0,
            error_std=0.0,
            rows=source.rows,
            categories=categories,
        )
        # Pass 1: the covariance of the centred encoding, summed batch by batch.
        covariance = np.zeros((len(usable), len(usable)))
        with _one_blas_thread():
            for matrix in model._encoded(source):
                covariance += matrix.T @ matrix
        covariance /= source.rows
        scale = np.sqrt(np.diag(covariance))
        scale[scale == 0] = 1.0  # a constant column: its standardised value is always 0
        correlation = covariance / np.outer(scale, scale)
        eigenvalues, eigenvectors = np.linalg.eigh(correlation)
        order = np.argsort(eigenvalues)[::-1]
        eigenvalues, eigenvectors = np.clip(eigenvalues[order], 0.0, None), eigenvectors[:, order]
        total = float(eigenvalues.sum())
        if total <= 0:
            return None
        shares = np.cumsum(eigenvalues) / total
        # At least one component is left out, or every row would reconstruct exactly (error always 0).
        kept = min(int(np.searchsorted(shares, variance - 1e-12)) + 1, len(usable) - 1)
        fitted = cls(
            features=model.features,
            kinds=model.kinds,
            center=center,
            scale=scale,
            components=np.ascontiguousarray(eigenvectors[:, :kept]),
            explained=float(shares[kept - 1]),
            error_mean=0.0,
            error_std=0.0,
            rows=source.rows,
            categories=categories,
        )
        # Pass 2: the reference's own reconstruction errors.
        mean, std, _ = fitted.error_stats(source)
        return cls(
            features=fitted.features,
            kinds=fitted.kinds,
            center=center,
            scale=scale,
            components=fitted.components,
            explained=fitted.explained,
            error_mean=mean,
            error_std=std,
            rows=source.rows,
            categories=categories,
        )

    def _encoded(self, source: Source) -> Iterator[FloatArray]:
        """Batches of the centred (not yet scaled) encoding, one row per data row."""
        for batch in source.batches(self.features):
            columns = []
            for name, kind, fill in zip(self.features, self.kinds, self.center, strict=True):
                if kind == "numeric":
                    values = numeric_array(batch[name], name, source.role)
                    values = np.where(np.isfinite(values), values, fill)
                else:
                    values = self._frequencies(batch[name], name, source.role)
                columns.append(values - fill)
            yield np.column_stack(columns)

    def _frequencies(self, raw: Any, name: str, role: str) -> FloatArray:
        known = self.categories[name]
        labels = to_labels(raw, name, role)
        if isinstance(labels, pa.ChunkedArray):
            labels = labels.combine_chunks()
        index = pc.index_in(labels, value_set=pa.array(known.labels.tolist(), type=pa.string()))
        positions = np.asarray(index.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
        found = positions >= 0
        values = np.zeros(len(positions))  # a category the reference never saw
        values[found] = known.frequency[positions[found]]
        missing = np.asarray(labels.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        values[missing] = known.missing
        return values

    def errors(self, centred: FloatArray) -> FloatArray:
        """Reconstruction error of each row of a centred encoding."""
        standard = centred / self.scale
        projected = standard @ self.components
        squared = np.einsum("ij,ij->i", standard, standard) - np.einsum("ij,ij->i", projected, projected)
        errors: FloatArray = np.sqrt(np.clip(squared, 0.0, None))
        return errors

    def error_stats(self, source: Source) -> tuple[float, float, int]:
        """``(mean, standard deviation, rows)`` of the reconstruction errors of ``source``'s rows."""
        total, squares, rows = 0.0, 0.0, 0
        shift = self.error_mean  # summing around the reference mean keeps the variance accurate
        with _one_blas_thread():
            for matrix in self._encoded(source):
                errors = self.errors(matrix) - shift
                total += float(errors.sum())
                squares += float(np.dot(errors, errors))
                rows += len(errors)
        if rows == 0:
            return math.nan, math.nan, 0
        mean = total / rows
        return shift + mean, math.sqrt(max(squares / rows - mean * mean, 0.0)), rows

    # --- serialisation (see ReferenceProfile.to_bytes) ----------------------------------------------------

    def to_parts(self) -> tuple[dict[str, Any], dict[str, np.ndarray[Any, Any]]]:
        """A JSON-able header and named arrays."""
        header = {
            "features": list(self.features),
            "kinds": list(self.kinds),
            "explained": self.explained,
            "error_mean": self.error_mean,
            "error_std": self.error_std,
            "rows": self.rows,
            "missing": {name: known.missing for name, known in self.categories.items()},
        }
        arrays: dict[str, np.ndarray[Any, Any]] = {
            "center": self.center,
            "scale": self.scale,
            "components": self.components,
        }
        for position, name in enumerate(self.features):
            if name in self.categories:
                arrays[f"labels_{position}"] = self.categories[name].labels
                arrays[f"frequency_{position}"] = self.categories[name].frequency
        return header, arrays

    @classmethod
    def from_parts(cls, header: dict[str, Any], arrays: dict[str, Any]) -> ReconstructionModel:
        """The model from :meth:`to_parts`' output."""
        features = tuple(str(name) for name in header["features"])
        categories = {
            name: _Categories(
                np.asarray(arrays[f"labels_{position}"], dtype=np.str_),
                np.asarray(arrays[f"frequency_{position}"], dtype=np.float64),
                float(header["missing"][name]),
            )
            for position, name in enumerate(features)
            if name in header["missing"]
        }
        return cls(
            features=features,
            kinds=tuple(header["kinds"]),
            center=np.asarray(arrays["center"], dtype=np.float64),
            scale=np.asarray(arrays["scale"], dtype=np.float64),
            components=np.asarray(arrays["components"], dtype=np.float64),
            explained=float(header["explained"]),
            error_mean=float(header["error_mean"]),
            error_std=float(header["error_std"]),
            rows=int(header["rows"]),
            categories=categories,
        )


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Run the narrow matrix products on one BLAS thread. With a thread per core, OpenBLAS spends more
    on waking and spinning its threads than on a (rows x ~25) product: measured on a busy 2-core
    machine, 9 ms on one thread against 40 ms to 4 s on two. threadpoolctl (installed with
    scikit-learn) sets it; without it the BLAS default stays."""
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        return contextlib.nullcontext()
    one_thread: contextlib.AbstractContextManager[Any] = threadpoolctl.threadpool_limits(1, "blas")
    return one_thread


def _center(column: ColumnProfile) -> float:
    """The reference mean of a column's encoding (missing numeric values count as the mean)."""
    if column.kind == "numeric":
        return float(column.mean) if column.mean is not None else 0.0
    shares = column.counts / column.rows
    return float(np.dot(shares, shares) + (column.missing / column.rows) ** 2)
