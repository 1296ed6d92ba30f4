"""A lean HTTP/1.1 load generator: ``--connections`` keep-alive clients on raw asyncio sockets, each
sending one POST after the other for ``--duration`` seconds. Standard library only.

Used by ``serving_load.py`` (every request carries a unique ``X-Request-ID``; the ids answered with 200
are written to ``--ids-out`` for the driver to look up in the prediction log) and by ``serving.py`` when
``wrk`` is not available. It runs in a process of its own, so it never shares an interpreter with the
server it measures; it writes one JSON summary line on stdout:

    python benchmarks/_http_load.py --port 8000 --path /v1/deployments/bench/predict \\
        --body-file body.json --connections 4 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any


class _Counts:
    def __init__(self) -> None:
        self.latencies_ns: list[int] = []
        self.statuses: dict[int, int] = {}
        self.errors: dict[str, int] = {}
        self.mismatched_ids = 0
        self.acknowledged: list[str] = []

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            parts.append(chunk[:-2])
        body = b"".join(parts)
    else:
        body = b""
    return status, headers, body


async def _client(
    number: int, args: argparse.Namespace, body: bytes, deadline: float, counts: _Counts
) -> None:
    head = (
        f"POST {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    )
    sequence = 0
    writer: asyncio.StreamWriter | None = None
    reader: asyncio.StreamReader | None = None
    while time.perf_counter() < deadline:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(args.host, args.port)
            assert reader is not None
            request_id = None
            extra = ""
            if args.request_ids:
                request_id = f"{args.request_ids}-{number}-{sequence}"
                extra = f"X-Request-ID: {request_id}\r\n"
            sequence += 1
            start = time.perf_counter_ns()
            writer.write((head + extra + "\r\n").encode("latin-1") + body)
            status, headers, _ = await asyncio.wait_for(_read_response(reader), args.timeout)
            counts.latencies_ns.append(time.perf_counter_ns() - start)
            counts.statuses[status] = counts.statuses.get(status, 0) + 1
            if status == 200 and request_id is not None:
                if headers.get("x-request-id") == request_id:
                    counts.acknowledged.append(request_id)
                else:
                    counts.mismatched_ids += 1
            if headers.get("connection", "").lower() == "close":
                writer.close()
                writer = reader = None
                counts.error("closed_by_server")
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as error:
            counts.error(type(error).__name__)
            writer = reader = None
            await asyncio.sleep(0.01)
        except TimeoutError:
            counts.error("timeout")
            if writer is not None:
                writer.close()
            writer = reader = None
    if writer is not None:
        writer.close()


def _percentile(ordered: list[int], fraction: float) -> float:
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index] / 1e6


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    body = Path(args.body_file).read_bytes()
    counts = _Counts()
    started = time.perf_counter()
    deadline = started + args.duration
    await asyncio.gather(*(_client(n, args, body, deadline, counts) for n in range(args.connections)))
    elapsed = time.perf_counter() - started
    ordered = sorted(counts.latencies_ns)
    if args.ids_out:
        Path(args.ids_out).write_text("\n".join(counts.acknowledged) + ("\n" if counts.acknowledged else ""))
    ok = counts.statuses.get(200, 0)
    return {
        "generator": "asyncio",
        "connections": args.connections,
        "duration_s": elapsed,
        "requests": len(ordered),
        "ok": ok,
        "statuses": {str(key): value for key, value in sorted(counts.statuses.items())},
        "errors": counts.errors,
        "non_2xx": sum(value for key, value in counts.statuses.items() if not 200 <= key < 300),
        "mismatched_ids": counts.mismatched_ids,
        "acknowledged": len(counts.acknowledged),
        "throughput_rps": ok / elapsed,
        "p50_ms": _percentile(ordered, 0.50) if ordered else None,
        "p99_ms": _percentile(ordered, 0.99) if ordered else None,
        "mean_ms": statistics.fmean(ordered) / 1e6 if ordered else None,
        "max_ms": ordered[-1] / 1e6 if ordered else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds allowed per response")
    parser.add_argument("--request-ids", default=None, help="prefix of a unique X-Request-ID per request")
    parser.add_argument("--ids-out", default=None, help="file for the acknowledged request ids")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_run(args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
