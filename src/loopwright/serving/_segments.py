"""The prediction log's file formats: JSON-lines segments and the Parquet partitions they compact into.

A segment line is one :class:`~loopwright.serving.predictlog.PredictionEntry` as a JSON object. A
partition row has the same fields; ``inputs`` and ``outputs`` stay JSON text (DuckDB reads them with
``inputs->>'amount'``), because a deployment's inputs change with its model versions and a text column
never fails to compact, whatever a request held.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pyarrow as pa

from loopwright.errors import MissingExtraError

if TYPE_CHECKING:
    from loopwright.serving.predictlog import PredictionEntry

__all__ = [
    "DAY_MS",
    "FIELDS",
    "SCHEMA",
    "day_text",
    "encoder",
    "fsync_folder",
    "loads",
    "number",
    "read_lines",
    "to_table",
]

DAY_MS = 86_400_000
_MAX_MS = 253_402_300_800_000  # 10000-01-01: beyond it no date has four digits
_MAX_INT64 = 2**63

SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("deployment", pa.string()),
        ("model", pa.string()),
        ("version", pa.int64()),
        ("variant", pa.string()),
        ("inputs", pa.string()),
        ("outputs", pa.string()),
        ("latency_ms", pa.float64()),
        ("timestamp", pa.timestamp("ms", tz="UTC")),
    ]
)
"""The columns of a compacted partition (and of :meth:`PredictionLog.query`, before JSON is parsed)."""

FIELDS = tuple(SCHEMA.names)
_FIELD_SET = frozenset(FIELDS)

try:  # orjson parses several times faster; what it writes, the standard library reads
    from orjson import loads as _orjson_loads

    loads: Callable[[bytes | str], Any] = _orjson_loads
except ImportError:  # pragma: no cover - orjson comes with the [server] extra and with [dev]
    loads = json.loads


def encoder() -> Callable[[Sequence[PredictionEntry]], bytes]:
    """A function turning entries into JSON lines (orjson: a few microseconds per entry). Only writers
    need orjson, and they run in a server, which has it."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson comes with the [server] extra and with [dev]
        raise MissingExtraError("Writing the prediction log", "orjson", "server") from None
    options = orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    dumps = orjson.dumps

    def encode(entries: Sequence[PredictionEntry]) -> bytes:
        try:
            return b"".join([dumps(entry, default=_plain, option=options) for entry in entries])
        except TypeError:  # e.g. numpy keys, which orjson refuses before calling `default`
            return b"".join([dumps(_plain_tree(asdict(entry)), option=options) for entry in entries])

    return encode


def _plain(value: Any) -> Any:
    """What orjson cannot write itself: numpy and pandas scalars, dates, anything else as its text."""
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", "replace")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def _plain_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {_plain_key(key): _plain_tree(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_tree(item) for item in value]
    return value


def _plain_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    plain = _plain(key) if not isinstance(key, int | float | bool) and key is not None else key
    return json.dumps(plain) if not isinstance(plain, str) else plain


def read_lines(file: IO[bytes], *, torn_tail: bool) -> Iterator[tuple[dict[str, Any] | None, bytes]]:
    """Each line of a segment as ``(record, line)``; ``record`` is ``None`` for a line that is not a whole
    entry. A last line without its newline is still being written when ``torn_tail`` is false (it is
    skipped), and was cut short by a crash when true (it is reported)."""
    for line in file:
        if not line.endswith(b"\n") and not torn_tail:
            return
        if not line.strip():
            continue
        try:
            record = loads(line)
        except ValueError:
            yield None, line
            continue
        yield (record if isinstance(record, dict) and _complete(record) else None), line


def _complete(record: dict[str, Any]) -> bool:
    # Only a crash mid-write makes a line that is not a whole entry; the ranges keep a damaged one that
    # still parses from failing the Parquet conversion of its whole segment, again and again.
    timestamp, version = record.get("timestamp"), record.get("version")
    return (
        isinstance(record.get("request_id"), str)
        and isinstance(timestamp, int)
        and 0 <= timestamp < _MAX_MS
        and isinstance(version, int)
        and -_MAX_INT64 <= version < _MAX_INT64
        and record.keys() >= _FIELD_SET
    )


def to_table(records: Sequence[dict[str, Any]]) -> pa.Table:
    """Segment records as a table of :data:`SCHEMA` (``inputs`` and ``outputs`` back to JSON text)."""
    text = _dumps_text
    columns = {
        "request_id": [record["request_id"] for record in records],
        "deployment": [str(record["deployment"]) for record in records],
        "model": [str(record["model"]) for record in records],
        "version": [record["version"] for record in records],
        "variant": [str(record["variant"]) for record in records],
        "inputs": [text(record["inputs"]) for record in records],
        "outputs": [text(record["outputs"]) for record in records],
        "latency_ms": [number(record["latency_ms"]) for record in records],
        "timestamp": [record["timestamp"] for record in records],
    }
    return pa.Table.from_pydict(columns, schema=SCHEMA)


def number(value: Any) -> float | None:
    """``value`` as a float, or ``None`` when it is not a number."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


try:
    from orjson import dumps as _orjson_dumps

    def _dumps_text(value: Any) -> str:
        return _orjson_dumps(value).decode()

except ImportError:  # pragma: no cover - orjson comes with the [server] extra and with [dev]

    def _dumps_text(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def day_text(day: int) -> str:
    """``YYYY-MM-DD`` of a day number (days since the epoch, UTC)."""
    return datetime.fromtimestamp(day * DAY_MS / 1000, tz=UTC).strftime("%Y-%m-%d")


def fsync_folder(folder: Path) -> None:
    """Make a rename or removal in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
