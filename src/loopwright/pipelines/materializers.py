"""Turning step outputs into artifacts and back.

Each value a step returns is stored in the artifact store by the first materializer that accepts it:

========================  ==================  =========  ===========================================
value                     materializer        kind       stored as
========================  ==================  =========  ===========================================
pandas DataFrame          ``parquet.pandas``  dataset    Parquet (index kept)
polars DataFrame          ``parquet.polars``  dataset    Parquet
numpy array               ``numpy``           file       ``.npy`` (no pickled objects)
a model of a flavor       ``model``           model      a Loopwright model directory (registry format)
JSON-able values          ``json``            file       canonical JSON
anything else             ``pickle``          file       pickle, flagged ``pickled`` (trust your own)
========================  ==================  =========  ===========================================

:data:`MATERIALIZER_VERSION` is part of every cache key: bump it when a stored format changes, so no
step reads an output written the old way.
"""

from __future__ import annotations

import io
import json
import math
import pickle
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loopwright.store.artifacts import ArtifactStore
from loopwright.store.pipelines import OutputRef

__all__ = ["MATERIALIZER_VERSION", "load_output", "save_output"]

MATERIALIZER_VERSION = "2"

_PARQUET = "application/vnd.apache.parquet"


def save_output(value: Any, name: str, artifacts: ArtifactStore, scratch: Path) -> OutputRef:
    """Store ``value`` and describe where it went. ``scratch`` is a local folder for temporary files."""
    module = type(value).__module__.split(".")[0]
    if module == "pandas" and type(value).__name__ == "DataFrame":
        return _save_file(
            lambda path: _write_pandas(value, path),
            name,
            artifacts,
            scratch,
            kind="dataset",
            materializer="parquet.pandas",
            media_type=_PARQUET,
            properties={"rows": len(value), "columns": [str(column) for column in value.columns]},
        )
    if module == "polars" and type(value).__name__ == "DataFrame":
        return _save_file(
            lambda path: _write_arrow(value.to_arrow(), path),
            name,
            artifacts,
            scratch,
            kind="dataset",
            materializer="parquet.polars",
            media_type=_PARQUET,
            properties={"rows": value.height, "columns": list(value.columns)},
        )
    if module == "numpy" and type(value).__name__ == "ndarray" and value.dtype != object:
        import numpy as np

        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        properties = {"dtype": str(value.dtype), "shape": list(value.shape)}
        return _save_bytes(
            buffer.getvalue(), name, artifacts, scratch, "numpy", "application/x-npy", properties
        )
    flavor = _model_flavor(value)
    if flavor is not None:
        return _save_model(value, name, artifacts, scratch, flavor)
    if _is_json(value):
        data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")
        return _save_bytes(data, name, artifacts, scratch, "json", "application/json", {})
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    flagged = {"pickled": True, "type": f"{type(value).__module__}.{type(value).__qualname__}"}
    return _save_bytes(data, name, artifacts, scratch, "pickle", "application/x-python-pickle", flagged)


def load_output(
    ref: OutputRef, artifacts: ArtifactStore, cache: Path, *, want_loaded_model: bool = False
) -> Any:
    """Read an output back as the value the step returned (a model as its native object, or as a
    :class:`~loopwright.registry.format.LoadedModel` when ``want_loaded_model``)."""
    if ref.materializer in {"parquet.pandas", "parquet.polars"}:
        path = artifacts.verified_path(ref.digest, name=ref.name) if artifacts.is_local else None
        source: Any = path if path is not None else io.BytesIO(artifacts.get_bytes(ref.digest, name=ref.name))
        if ref.materializer == "parquet.pandas":
            import pandas as pd

            return pd.read_parquet(source)
        import polars as pl

        return pl.read_parquet(source)
    if ref.materializer == "model":
        from loopwright.registry.archive import materialize_model
        from loopwright.registry.format import load_model

        loaded = load_model(materialize_model(artifacts, ref.digest, cache))
        return loaded if want_loaded_model else loaded.raw
    data = artifacts.get_bytes(ref.digest, name=ref.name)
    if ref.materializer == "numpy":
        import numpy as np

        return np.load(io.BytesIO(data), allow_pickle=False)
    if ref.materializer == "json":
        return json.loads(data)
    if ref.materializer == "pickle":
        return pickle.loads(data)  # the workspace's own output, written by save_output
    raise ValueError(f"Unknown materializer {ref.materializer!r} for output {ref.name!r}.")


def _save_bytes(
    data: bytes,
    name: str,
    artifacts: ArtifactStore,
    scratch: Path,
    materializer: str,
    media_type: str,
    properties: Mapping[str, Any],
) -> OutputRef:
    return _save_file(
        lambda path: path.write_bytes(data),
        name,
        artifacts,
        scratch,
        kind="file",
        materializer=materializer,
        media_type=media_type,
        properties=properties,
    )


def _save_file(
    write: Any,
    name: str,
    artifacts: ArtifactStore,
    scratch: Path,
    *,
    kind: str,
    materializer: str,
    media_type: str,
    properties: Mapping[str, Any],
) -> OutputRef:
    # Written beside the store and renamed into place (atomic): durable against a crash of the process,
    # and against power loss as durable as the metadata store (SQLite runs with synchronous=NORMAL).
    scratch.mkdir(parents=True, exist_ok=True)
    path = scratch / f"{uuid.uuid4().hex}.part"
    try:
        write(path)
        blob = artifacts.put_file(path, move=True)
    finally:
        path.unlink(missing_ok=True)
    return OutputRef(
        name=name,
        digest=blob.digest,
        size=blob.size,
        kind=kind,
        materializer=materializer,
        media_type=media_type,
        properties={**properties, "materializer_version": MATERIALIZER_VERSION},
    )


def _write_pandas(frame: Any, path: Path) -> None:
    import pyarrow as pa

    _write_arrow(pa.Table.from_pandas(frame, nthreads=1, preserve_index=True), path)


def _write_arrow(table: Any, path: Path) -> None:
    """Parquet without pyarrow's thread pool (it costs more than it saves on a step's frame) and with
    dictionary encoding only where it pays: text, binary, booleans and categoricals, not floats."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    dictionary = [
        field.name
        for field in table.schema
        if pa.types.is_string(field.type)
        or pa.types.is_large_string(field.type)
        or pa.types.is_binary(field.type)
        or pa.types.is_boolean(field.type)
        or pa.types.is_dictionary(field.type)
    ]
    pq.write_table(table, path, use_dictionary=dictionary or False)


def _model_flavor(value: Any) -> str | None:
    """The registry flavor that can save ``value``, if any (only checked for objects from model
    libraries and Loopwright's PythonModel, so plain values never import the registry)."""
    module = type(value).__module__.split(".")[0]
    if module not in {"sklearn", "xgboost", "lightgbm", "torch"} and not _is_python_model(value):
        return None
    from loopwright.registry.format import infer_flavor

    return infer_flavor(value)


def _is_python_model(value: Any) -> bool:
    return any(
        cls.__name__ == "PythonModel" and cls.__module__.startswith("loopwright.")
        for cls in type(value).__mro__
    )


def _save_model(value: Any, name: str, artifacts: ArtifactStore, scratch: Path, flavor: str) -> OutputRef:
    from loopwright.registry.archive import MODEL_MEDIA_TYPE, write_archive
    from loopwright.registry.format import save_model

    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch) as folder:
        model_dir = Path(folder) / "model"
        manifest = save_model(value, model_dir, flavor=flavor)
        with open(Path(folder) / "model.tar", "wb") as handle:
            write_archive(model_dir, handle)
        blob = artifacts.put_file(Path(folder) / "model.tar", move=True)
    return OutputRef(
        name=name,
        digest=blob.digest,
        size=blob.size,
        kind="model",
        materializer="model",
        media_type=MODEL_MEDIA_TYPE,
        properties={"flavor": manifest.flavor, "materializer_version": MATERIALIZER_VERSION},
    )


def _is_json(value: Any, depth: int = 0) -> bool:
    """True for values that JSON round-trips exactly (so the step after gets what was returned)."""
    if depth > 64:
        return False
    if value is None or type(value) in (bool, str, int):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is list:
        return all(_is_json(item, depth + 1) for item in value)
    if type(value) is dict:
        return all(type(key) is str and _is_json(item, depth + 1) for key, item in value.items())
    return False
