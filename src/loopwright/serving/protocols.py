"""Prediction payloads: Loopwright's own, MLflow's scoring format and the Open Inference Protocol v2.

Pure functions, no web framework: each ``parse_*`` turns a request body (bytes) into :class:`Inputs`, the
rows in a form every model accepts, and each ``*_response`` turns predictions into the protocol's response
body (bytes). A body that does not fit raises :class:`~loopwright.errors.PayloadError` naming the field, what
was expected and what was received; one that is not JSON raises
:class:`~loopwright.errors.MalformedPayloadError`.

==================  ===================================================================================
protocol            request body
==================  ===================================================================================
Loopwright          ``{"records": [{...}, ...]}`` (or one record), ``{"columns": {"age": [...], ...}}``
                    or ``{"dataframe_split": {"columns": [...], "data": [[...], ...]}}``; optional
                    ``"request_ids": [...]``, one per row
MLflow scoring      exactly one of ``dataframe_split``, ``dataframe_records``, ``instances``, ``inputs``
                    (JSON), or a CSV table with a header (``Content-Type: text/csv``)
Open Inference v2   ``{"id": ..., "inputs": [{"name", "shape", "datatype", "data"}, ...], "outputs": [...]}``
==================  ===================================================================================

Rows stay in their JSON form (records, columns or nested lists) rather than becoming a DataFrame here: the
model's signature then converts them with the leniency JSON numbers deserve (a JSON float is not a request
for ``float64``), and a one-row request costs no DataFrame until the model needs one.

>>> inputs = parse_loopwright(b'{"records": [{"age": 31, "plan": "pro"}]}')
>>> inputs.rows, inputs.layout, inputs.record(0)
(1, 'records', {'age': 31, 'plan': 'pro'})
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import orjson

from loopwright.errors import MalformedPayloadError, PayloadError
from loopwright.registry.signature import Signature

__all__ = [
    "MLFLOW_KEYS",
    "OIP_DATATYPES",
    "PREDICT_OUTPUT",
    "PROBA_OUTPUT",
    "Inputs",
    "check_request_id",
    "concat",
    "decode_json",
    "inference_response",
    "loopwright_response",
    "mlflow_response",
    "model_metadata",
    "oip_datatype",
    "parse_feedback",
    "parse_inference_request",
    "parse_loopwright",
    "parse_mlflow",
]

Layout = Literal["records", "columns", "tensor"]

LOOPWRIGHT_KEYS = ("records", "columns", "dataframe_split")
MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
PREDICT_OUTPUT = "predict"
"""The name of the predictions tensor in Open Inference Protocol responses."""
PROBA_OUTPUT = "predict_proba"
"""The name of the class-probabilities tensor (classifiers only)."""
REQUEST_ID_LENGTH = 250
"""The longest request id accepted (the width of ``feedback.request_id``)."""

# Open Inference Protocol datatypes and the numpy dtype each maps to (BYTES: text, as JSON carries it).
OIP_DATATYPES: dict[str, str] = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "object",
}
_SIGNATURE_DATATYPES = {numpy: oip for oip, numpy in OIP_DATATYPES.items() if oip != "BYTES"}


@dataclass(frozen=True, slots=True)
class Inputs:
    """The rows of one prediction request, whatever protocol carried them.

    ``data`` is what the model gets: a list of records (``layout == "records"``), a dict of columns
    (``"columns"``: lists, or numpy arrays for typed tensors) or a tensor (``"tensor"``: nested lists or a
    numpy array, rows along the first axis). ``request_ids`` are the caller's ids, one per row, when it
    sent them. ``id`` and ``outputs`` are the Open Inference Protocol's request id and requested outputs.
    """

    data: Any
    rows: int
    layout: Layout
    request_ids: tuple[str, ...] | None = None
    id: str | None = None
    outputs: tuple[str, ...] | None = None

    def record(self, index: int) -> dict[str, Any] | list[Any] | Any:
        """Row ``index`` as plain JSON values: a dict of column values (a list, or a value, for a tensor)."""
        if self.layout == "records":
            return dict(self.data[index])
        if self.layout == "columns":
            return {name: _plain(values[index]) for name, values in self.data.items()}
        return _plain(self.data[index])

    def records(self) -> list[Any]:
        """Every row as :meth:`record` gives it (what a prediction log entry holds as ``inputs``)."""
        if self.layout == "records":
            return list(self.data)
        return [self.record(index) for index in range(self.rows)]

    def column(self, name: str) -> list[Any] | None:
        """The values of field ``name`` in every row (``None`` where a row lacks it), or ``None`` if no row
        has it: what sticky routing by ``field:NAME`` hashes."""
        if self.layout == "records":
            values = [row.get(name) for row in self.data]
            return values if any(value is not None for value in values) else None
        if self.layout == "columns" and name in self.data:
            return [_plain(value) for value in self.data[name]]
        return None

    def take(self, indices: Sequence[int]) -> Inputs:
        """The rows at ``indices`` (in that order), in the same layout: how a request is split between
        production and a canary."""
        if self.layout == "records":
            data: Any = [self.data[index] for index in indices]
        elif self.layout == "columns":
            data = {name: _take(values, indices) for name, values in self.data.items()}
        else:
            data = _take(self.data, indices)
        ids = tuple(self.request_ids[index] for index in indices) if self.request_ids is not None else None
        return replace(self, data=data, rows=len(indices), request_ids=ids)

    def batch_key(self) -> tuple[Any, ...]:
        """Requests with equal keys can be predicted in one call (:func:`concat`): the same layout, the
        same columns in the same order, tensors of the same row shape and type."""
        data = self.data
        if self.layout == "records":
            return ("records",)
        if self.layout == "columns":
            return ("columns", *((name, _kind(values)) for name, values in data.items()))
        if isinstance(data, np.ndarray):
            return ("tensor", data.dtype.str, data.shape[1:])
        first = data[0]
        return ("tensor", "list", len(first) if isinstance(first, list) else None)


def concat(parts: Sequence[Inputs]) -> Inputs:
    """The rows of ``parts`` (of one :meth:`~Inputs.batch_key`) as one request, in order. Request ids
    are kept where every part has them, else dropped for all (the caller names the rows then).

    >>> concat([Inputs([{"x": 1}], 1, "records"), Inputs([{"x": 2}], 1, "records")]).data
    [{'x': 1}, {'x': 2}]
    """
    first = parts[0]
    if len(parts) == 1:
        return first
    if first.layout == "records":
        data: Any = [row for part in parts for row in part.data]
    elif first.layout == "columns":
        data = {name: _concat([part.data[name] for part in parts]) for name in first.data}
    else:
        data = _concat([part.data for part in parts])
    ids = [part.request_ids for part in parts]
    request_ids = tuple(item for part_ids in ids for item in part_ids or ()) if all(ids) else None
    return Inputs(data, sum(part.rows for part in parts), first.layout, request_ids=request_ids)


def _kind(values: Any) -> str:
    return values.dtype.str if isinstance(values, np.ndarray) else "list"


def _concat(values: Sequence[Any]) -> Any:
    if isinstance(values[0], np.ndarray):
        return np.concatenate(values)
    return [item for part in values for item in part]


def _take(values: Any, indices: Sequence[int]) -> Any:
    if isinstance(values, np.ndarray):
        return values[list(indices)]
    return [values[index] for index in indices]


def _plain(value: Any) -> Any:
    """A numpy scalar or array as the JSON value it came from."""
    return value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value


# --- shared checks ------------------------------------------------------------------------------------------


def decode_json(body: bytes) -> Any:
    """The JSON value of ``body``, or :class:`MalformedPayloadError` saying where it stops being JSON.

    >>> decode_json(b'{"records": []}')
    {'records': []}
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        received = "an empty body" if not body.strip() else f"invalid JSON ({error})"
        raise MalformedPayloadError(
            f"The request body must be JSON. Got {received} instead.",
            field="body",
            expected="JSON",
            received=received,
        ) from None


def _describe(value: Any) -> str:
    """How a JSON value is named in messages: its JSON type, and the value when it is short."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the text {shown!r}"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _refuse(field: str, expected: str, value: Any, *, received: str | None = None) -> PayloadError:
    received = received or _describe(value)
    return PayloadError(
        f"The '{field}' of the request must be {expected}. Got {received} instead.",
        field=field,
        expected=expected,
        received=received,
    )


def _one_key(document: Any, keys: Sequence[str], protocol: str, allowed: Sequence[str] = ()) -> str:
    """The one data key of ``document`` (an object holding exactly one of ``keys``, and perhaps the
    ``allowed`` extras)."""
    listed = ", ".join(f"'{key}'" for key in keys)
    if not isinstance(document, dict):
        raise PayloadError(
            f"The request body must be a JSON object with one of {listed} ({protocol}). Got "
            f"{_describe(document)} instead.",
            field="body",
            expected=f"an object with one of {listed}",
            received=_describe(document),
        )
    present = [key for key in keys if key in document]
    unknown = sorted(key for key in document if key not in keys and key not in allowed)
    if len(present) != 1 or unknown:
        got = present + unknown
        received = ", ".join(f"'{key}'" for key in got) if got else "no keys"
        raise PayloadError(
            f"The request body must have exactly one of {listed} ({protocol}). Got {received} instead.",
            field="body",
            expected=f"exactly one of {listed}",
            received=received,
        )
    return present[0]


def check_request_id(value: Any, field: str) -> str:
    """``value`` if it is a usable request id (text of 1 to 250 printable characters), else
    :class:`PayloadError` naming ``field``."""
    if isinstance(value, str) and 0 < len(value) <= REQUEST_ID_LENGTH and value.isprintable():
        return value
    raise _refuse(field, f"a request id (text of 1 to {REQUEST_ID_LENGTH} printable characters)", value)


def _request_ids(value: Any, rows: int, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) != rows:
        raise _refuse(field, f"a list of {rows} request id{'s' if rows != 1 else ''}, one per row", value)
    ids = tuple(check_request_id(item, f"{field}[{index}]") for index, item in enumerate(value))
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        for item in ids:
            if item in seen:
                raise _refuse(field, "unique request ids", value, received=f"{item!r} twice")
            seen.add(item)
    return ids


# --- tables: records, columns, dataframe_split --------------------------------------------------------------


def _records(value: Any, field: str, *, single: bool) -> Inputs:
    if isinstance(value, dict) and single:
        return Inputs([value], 1, "records")
    expected = "a list of records (JSON objects, one per row)" + (", or one record" if single else "")
    if not isinstance(value, list) or not value:
        raise _refuse(field, expected, value)
    for index, row in enumerate(value):
        if type(row) is not dict:
            raise _refuse(f"{field}[{index}]", "a record (a JSON object of column values)", row)
    return Inputs(value, len(value), "records")


def _columns(value: Any, field: str) -> Inputs:
    expected = "an object mapping each column name to a list of values"
    if not isinstance(value, dict) or not value:
        raise _refuse(field, expected, value)
    rows = -1
    first = ""
    for name, values in value.items():
        if not isinstance(values, list):
            raise _refuse(f"{field}.{name}", "a list of values, one per row", values)
        if rows == -1:
            rows, first = len(values), name
        elif len(values) != rows:
            raise _refuse(
                f"{field}.{name}",
                f"a list of {rows} values, as long as '{field}.{first}'",
                values,
                received=f"{len(values)} value{'s' if len(values) != 1 else ''}",
            )
    if rows == 0:
        raise _refuse(field, "columns holding at least one row", value, received="empty columns")
    return Inputs(value, rows, "columns")


def _split(value: Any, field: str) -> Inputs:
    """pandas' ``split`` orientation: ``{"columns": [...], "data": [[...], ...]}`` (``index`` ignored)."""
    if not isinstance(value, dict):
        raise _refuse(field, "an object with 'columns' and 'data'", value)
    data = value.get("data")
    if not isinstance(data, list) or not data:
        raise _refuse(f"{field}.data", "a list of rows (lists of values)", data)
    columns = value.get("columns")
    if columns is None:  # no names: the rows are positional, as a tensor's are
        return _tensor(data, f"{field}.data")
    if not isinstance(columns, list) or not all(isinstance(name, str) for name in columns) or not columns:
        raise _refuse(f"{field}.columns", "a list of column names (text)", columns)
    if len(set(columns)) != len(columns):
        raise _refuse(f"{field}.columns", "unique column names", columns)
    width = len(columns)
    for index, row in enumerate(data):
        if not isinstance(row, list) or len(row) != width:
            raise _refuse(f"{field}.data[{index}]", f"a row of {width} values, one per column", row)
    return Inputs(dict(zip(columns, map(list, zip(*data, strict=True)), strict=True)), len(data), "columns")


def _tensor(value: Any, field: str) -> Inputs:
    if not isinstance(value, list) or not value:
        raise _refuse(field, "a non-empty list of rows", value)
    first = value[0]
    if isinstance(first, list):  # rows of values: all as long as the first (pandas would pad with NaN)
        width = len(first)
        for index, row in enumerate(value):
            if not isinstance(row, list) or len(row) != width:
                raise _refuse(f"{field}[{index}]", f"a row of {width} values, as long as '{field}[0]'", row)
    return Inputs(value, len(value), "tensor")


# --- Loopwright's own protocol ------------------------------------------------------------------------------


def parse_loopwright(body: bytes) -> Inputs:
    """Parse a ``POST /v1/deployments/{name}/predict`` body.

    >>> parse_loopwright(b'{"columns": {"age": [31, 45]}, "request_ids": ["a", "b"]}').request_ids
    ('a', 'b')
    """
    document = decode_json(body)
    key = _one_key(document, LOOPWRIGHT_KEYS, "Loopwright's predict format", allowed=("request_ids",))
    value = document[key]
    if key == "records":
        inputs = _records(value, "records", single=True)
    elif key == "columns":
        inputs = _columns(value, "columns")
    else:
        inputs = _split(value, "dataframe_split")
    ids = document.get("request_ids")
    if ids is not None:
        inputs = replace(inputs, request_ids=_request_ids(ids, inputs.rows, "request_ids"))
    return inputs


def loopwright_response(
    deployment: str,
    request_ids: Sequence[str],
    predictions: Sequence[Any],
    probabilities: Sequence[Any] | None,
    model: str,
    versions: Sequence[int],
    variants: Sequence[str],
) -> bytes:
    """The response to Loopwright's predict: one object per row, in request order. ``predictions`` and
    ``probabilities`` are plain lists (``ndarray.tolist()``); a row without probabilities has ``None``.

    >>> loopwright_response("fraud", ["r1"], [1], [[0.2, 0.8]], "fraud", [3], ["production"])
    b'{"deployment":"fraud","predictions":[{"request_id":"r1","prediction":1,"probabilities":[0.2,0.8],\
"model":"fraud","version":3,"variant":"production"}]}'
    """
    rows = []
    for index, request_id in enumerate(request_ids):
        row: dict[str, Any] = {"request_id": request_id, "prediction": predictions[index]}
        if probabilities is not None and probabilities[index] is not None:
            row["probabilities"] = probabilities[index]
        row["model"] = model
        row["version"] = versions[index]
        row["variant"] = variants[index]
        rows.append(row)
    return orjson.dumps({"deployment": deployment, "predictions": rows}, option=orjson.OPT_SERIALIZE_NUMPY)


# --- MLflow scoring -----------------------------------------------------------------------------------------


def parse_mlflow(body: bytes, content_type: str | None = None) -> Inputs:
    """Parse an MLflow scoring request (``mlflow models serve``'s ``/invocations``).

    JSON bodies hold exactly one of ``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs``
    (and optionally an empty ``params``); ``text/csv`` bodies are a table with a header row.

    >>> parse_mlflow(b'{"instances": [[1.0, 2.0], [3.0, 4.0]]}').layout
    'tensor'
    """
    media = (content_type or "").partition(";")[0].strip().lower()
    if media == "text/csv":
        return _csv(body)
    document = decode_json(body)
    key = _one_key(document, MLFLOW_KEYS, "MLflow's scoring format", allowed=("params",))
    params = document.get("params")
    if params:
        raise _refuse(
            "params",
            "absent or empty (Loopwright models take no inference parameters)",
            params,
        )
    value = document[key]
    if key == "dataframe_split":
        return _split(value, key)
    if key == "dataframe_records":
        return _records(value, key, single=False)
    # TF-serving style: a dict of columns, a list of records, or rows / values of a tensor.
    if isinstance(value, dict):
        return _columns(value, key)
    if isinstance(value, list) and value and all(type(row) is dict for row in value):
        return _records(value, key, single=False)
    return _tensor(value, key)


def _csv(body: bytes) -> Inputs:
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    try:
        table = pa_csv.read_csv(pa.BufferReader(body))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise MalformedPayloadError(
            f"The request body must be a CSV table with a header row. Got invalid CSV ({error}) instead.",
            field="body",
            expected="CSV with a header row",
            received=f"invalid CSV ({error})",
        ) from None
    if table.num_rows == 0:
        raise _refuse("body", "a CSV table with at least one row", None, received="no rows")
    return Inputs(table.to_pydict(), table.num_rows, "columns")


def mlflow_response(predictions: Any) -> bytes:
    """``{"predictions": [...]}``, as ``mlflow models serve`` answers.

    >>> mlflow_response([0, 1])
    b'{"predictions":[0,1]}'
    """
    return orjson.dumps({"predictions": predictions}, option=orjson.OPT_SERIALIZE_NUMPY)


# --- Open Inference Protocol v2 -----------------------------------------------------------------------------


def parse_inference_request(body: bytes) -> Inputs:
    """Parse an Open Inference Protocol v2 ``infer`` request.

    Several inputs are columns: each is named after a column and has shape ``[N]`` (or ``[N, 1]``). One
    input of shape ``[N]`` is a column too; one of shape ``[N, K, ...]`` is a tensor (and a model with named
    columns reads its K values per row in the signature's order). ``data`` may be flat (row-major) or
    nested; its values must fit ``datatype``.

    >>> request = b'{"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}]}'
    >>> parse_inference_request(request).data
    array([[1., 2.],
           [3., 4.]], dtype=float32)
    """
    document = decode_json(body)
    if not isinstance(document, dict):
        raise _refuse("body", "an object with 'inputs'", document)
    unknown = sorted(set(document) - {"id", "inputs", "outputs", "parameters"})
    if unknown:
        raise _refuse(
            "body",
            "an object with 'inputs' and optionally 'id', 'outputs' and 'parameters'",
            document,
            received="the unknown key" + ("s " if len(unknown) > 1 else " ") + ", ".join(map(repr, unknown)),
        )
    request_id = document.get("id")
    if request_id is not None:
        request_id = check_request_id(request_id, "id")
    parameters = document.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise _refuse("parameters", "an object", parameters)
    tensors = document.get("inputs")
    if not isinstance(tensors, list) or not tensors:
        raise _refuse("inputs", "a non-empty list of input tensors", tensors)
    arrays: dict[str, np.ndarray[Any, Any]] = {}
    for index, tensor in enumerate(tensors):
        name, array = _input_tensor(tensor, f"inputs[{index}]")
        if name in arrays:
            raise _refuse(f"inputs[{index}].name", "a name no other input has", name)
        arrays[name] = array
    outputs = _requested_outputs(document.get("outputs"))
    if len(arrays) == 1:
        ((name, array),) = arrays.items()
        if array.ndim >= 2:
            return Inputs(array, int(array.shape[0]), "tensor", id=request_id, outputs=outputs)
        columns = {name: array}
    else:
        columns = {}
        rows = -1
        for index, (name, array) in enumerate(arrays.items()):
            if array.ndim == 2 and array.shape[1] == 1:
                array = array[:, 0]
            if array.ndim != 1:
                raise _refuse(
                    f"inputs[{index}].shape",
                    "[N] or [N, 1] (with several inputs, each is one column of N rows)",
                    None,
                    received=str(list(array.shape)),
                )
            if rows not in (-1, len(array)):
                raise _refuse(
                    f"inputs[{index}].shape",
                    f"[{rows}], the rows of inputs[0]",
                    None,
                    received=str(list(array.shape)),
                )
            rows = len(array)
            columns[name] = array
    rows = len(next(iter(columns.values())))
    return Inputs(columns, rows, "columns", id=request_id, outputs=outputs)


def _input_tensor(tensor: Any, field: str) -> tuple[str, np.ndarray[Any, Any]]:
    if not isinstance(tensor, dict):
        raise _refuse(field, "an input tensor (an object with name, shape, datatype and data)", tensor)
    name = tensor.get("name")
    if not isinstance(name, str) or not name:
        raise _refuse(f"{field}.name", "a name (text)", name)
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not shape or not all(type(size) is int and size >= 0 for size in shape):
        raise _refuse(f"{field}.shape", "a list of sizes (non-negative integers), rows first", shape)
    if shape[0] == 0:
        raise _refuse(f"{field}.shape", "at least one row", shape, received=str(shape))
    datatype = tensor.get("datatype")
    if datatype not in OIP_DATATYPES:
        raise _refuse(f"{field}.datatype", "one of " + ", ".join(OIP_DATATYPES), datatype)
    parameters = tensor.get("parameters")
    if isinstance(parameters, dict) and "binary_data_size" in parameters:
        raise _refuse(
            f"{field}.parameters",
            "JSON data (the binary tensor extension is not supported)",
            parameters,
            received="binary_data_size",
        )
    data = tensor.get("data")
    if not isinstance(data, list):
        raise _refuse(f"{field}.data", f"a list of {datatype} values (flat or nested)", data)
    count = math.prod(shape)
    try:
        array = np.asarray(data, dtype=object if datatype == "BYTES" else None)
    except ValueError:  # ragged nesting
        raise _refuse(f"{field}.data", f"{count} {datatype} values filling shape {shape}", data) from None
    if array.size != count:
        raise _refuse(
            f"{field}.data",
            f"{count} {datatype} values filling shape {shape}",
            data,
            received=f"{array.size} value{'s' if array.size != 1 else ''}",
        )
    return name, _typed(array.reshape(shape), datatype, f"{field}.data")


def _typed(array: np.ndarray[Any, Any], datatype: str, field: str) -> np.ndarray[Any, Any]:
    """``array`` as the numpy type of ``datatype``, refusing values of another kind (a float for an
    integer, text for a number) and integers out of range, which a plain cast would change silently."""
    kind = array.dtype.kind
    target = np.dtype(OIP_DATATYPES[datatype])
    if datatype == "BYTES":
        if not all(isinstance(value, str) for value in array.flat):
            bad = next(value for value in array.flat if not isinstance(value, str))
            raise _refuse(field, "BYTES values (text)", bad, received=f"{_describe(bad)} among them")
        return array
    fits = (
        (target.kind == "b" and kind == "b")
        or (target.kind in "iu" and kind in "iu")
        or (target.kind == "f" and kind in "iuf")
    )
    if not fits:
        received = {"b": "booleans", "i": "integers", "u": "integers", "f": "numbers with a fraction"}.get(
            kind, "text or mixed values"
        )
        raise _refuse(field, f"{datatype} values", None, received=received)
    if target.kind in "iu" and array.size:
        limits = np.iinfo(target)
        low, high = array.min(), array.max()
        if low < limits.min or high > limits.max:
            raise _refuse(
                field,
                f"{datatype} values (from {limits.min} to {limits.max})",
                None,
                received=f"values from {low} to {high}",
            )
    return array.astype(target, copy=False)


def _requested_outputs(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise _refuse("outputs", "a list of requested outputs (objects with a name)", value)
    names = []
    for index, output in enumerate(value):
        name = output.get("name") if isinstance(output, dict) else None
        if name not in (PREDICT_OUTPUT, PROBA_OUTPUT):
            raise _refuse(
                f"outputs[{index}].name", f"'{PREDICT_OUTPUT}' or '{PROBA_OUTPUT}'", name if name else output
            )
        names.append(name)
    return tuple(names)


def oip_datatype(values: Any) -> str:
    """The Open Inference Protocol datatype of a numpy array (``BYTES`` for text and other objects).

    >>> oip_datatype(np.array([0.5])), oip_datatype(np.array(["yes"]))
    ('FP64', 'BYTES')
    """
    name = np.asarray(values).dtype.name
    return _SIGNATURE_DATATYPES.get(name, "BYTES")


def _output_tensor(name: str, values: Any) -> dict[str, Any]:
    array = np.asarray(values)
    if array.dtype.kind in "OUS":
        data: Any = array.ravel().tolist()
        data = [value if isinstance(value, str) else str(value) for value in data]
    else:
        data = array.ravel().tolist()
    return {"name": name, "shape": list(array.shape), "datatype": oip_datatype(array), "data": data}


def inference_response(
    model_name: str,
    model_version: str,
    request_id: str | None,
    predictions: Any,
    probabilities: Any | None,
    *,
    outputs: Sequence[str] | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> bytes:
    """An Open Inference Protocol v2 infer response: the ``predict`` tensor, and ``predict_proba`` for
    classifiers, or just the ``outputs`` the request asked for. ``parameters`` carries Loopwright's
    per-row facts (request ids, versions, variants).

    >>> inference_response("fraud", "3", None, np.array([1, 0]), None)
    b'{"model_name":"fraud","model_version":"3","outputs":[{"name":"predict","shape":[2],"datatype":"INT64",\
"data":[1,0]}]}'
    """
    wanted = outputs if outputs is not None else (PREDICT_OUTPUT, PROBA_OUTPUT)
    tensors = []
    for name in wanted:
        if name == PREDICT_OUTPUT:
            tensors.append(_output_tensor(name, predictions))
        elif name == PROBA_OUTPUT:
            if probabilities is not None:
                tensors.append(_output_tensor(name, probabilities))
            elif outputs is not None:
                raise _refuse(
                    "outputs",
                    f"outputs the model has ('{PROBA_OUTPUT}' only for classifiers with probabilities)",
                    None,
                    received=f"'{PROBA_OUTPUT}'",
                )
    document: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request_id is not None:
        document["id"] = request_id
    if parameters:
        document["parameters"] = dict(parameters)
    document["outputs"] = tensors
    return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)


def model_metadata(
    name: str,
    versions: Sequence[str],
    platform: str,
    signature: Signature | None,
    *,
    classifier: bool = False,
    prediction_datatype: str | None = None,
) -> dict[str, Any]:
    """``GET /v2/models/{name}``: the model's versions, platform, and inputs and outputs from its
    signature (a model saved without one has an open input, ``BYTES`` of any shape). The ``predict``
    output's datatype is ``prediction_datatype`` when known (a classifier's labels), else the signature's.
    """
    if signature is None:
        inputs: list[dict[str, Any]] = [{"name": "input", "datatype": "BYTES", "shape": [-1]}]
    elif signature.is_tensor:
        spec = signature.inputs[0]
        inputs = [
            {
                "name": spec.name or "input",
                "datatype": _signature_datatype(spec.type),
                "shape": list(spec.shape or [-1]),
            }
        ]
    else:
        inputs = [
            {"name": str(spec.name), "datatype": _signature_datatype(spec.type), "shape": [-1]}
            for spec in signature.inputs
        ]
    datatype = prediction_datatype or _prediction_datatype(signature)
    outputs: list[dict[str, Any]] = [{"name": PREDICT_OUTPUT, "datatype": datatype, "shape": [-1]}]
    if classifier:
        outputs.append({"name": PROBA_OUTPUT, "datatype": "FP64", "shape": [-1, -1]})
    return {
        "name": name,
        "versions": list(versions),
        "platform": platform,
        "inputs": inputs,
        "outputs": outputs,
    }


def _signature_datatype(kind: str) -> str:
    return _SIGNATURE_DATATYPES.get(kind, "BYTES")


def _prediction_datatype(signature: Signature | None) -> str:
    if signature is not None and signature.outputs and len(signature.outputs) == 1:
        return _signature_datatype(signature.outputs[0].type)
    return "BYTES" if signature is None or not signature.outputs else "FP64"


# --- feedback -----------------------------------------------------------------------------------------------


def parse_feedback(body: bytes) -> dict[str, Any]:
    """Parse a ``POST /v1/deployments/{name}/feedback`` body into ``{request_id: value}``.

    Either ``{"feedback": {"<request id>": <label or outcome>, ...}}`` or ``{"feedback": [{"request_id":
    ..., "value": ...}, ...]}``; a value is any JSON value except null.

    >>> parse_feedback(b'{"feedback": {"r1": 1, "r2": 0}}')
    {'r1': 1, 'r2': 0}
    """
    document = decode_json(body)
    _one_key(document, ("feedback",), "Loopwright's feedback format")
    value = document["feedback"]
    labels: dict[str, Any] = {}
    if isinstance(value, dict) and value:
        items = list(value.items())
        for request_id, label in items:
            check_request_id(request_id, "feedback")
            if label is None:
                raise _refuse(f"feedback.{request_id}", "a label or outcome (any JSON value but null)", label)
            labels[request_id] = label
        return labels
    if not isinstance(value, list) or not value:
        raise _refuse(
            "feedback",
            "an object mapping request ids to labels, or a list of {request_id, value} objects",
            value,
        )
    for index, item in enumerate(value):
        if not isinstance(item, dict) or set(item) != {"request_id", "value"}:
            raise _refuse(f"feedback[{index}]", "an object with exactly 'request_id' and 'value'", item)
        request_id = check_request_id(item["request_id"], f"feedback[{index}].request_id")
        if item["value"] is None:
            raise _refuse(f"feedback[{index}].value", "a label or outcome (any JSON value but null)", None)
        if request_id in labels:
            raise _refuse(f"feedback[{index}].request_id", "a request id not given before", request_id)
        labels[request_id] = item["value"]
    return labels
