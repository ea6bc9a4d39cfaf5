"""Per-request overhead: requests/s of small queries on an empty database, one server worker.

What a request costs besides its SQL: HTTP, authentication, parsing, validation, the cost walk,
resolvers, loaders and serialisation. The queries return nothing, so the figures are usageql's
own overhead (the three-level query still runs its two SQL statements).

    python bench/overhead.py                      # 8 clients, 5 s per query
    python bench/overhead.py --record             # and record the figures in bench/RESULTS.md
    python bench/overhead.py --profile stacks.txt # py-spy the server during the 3-level query
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

from harness import api_key, create_database, drop_database, free_port, post, start_server
from results import machine, record_section
from usageql.auth import Role

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/test"
QUERIES = {
    "viewer": "{ viewer { role } }",
    "summary": "{ usage { summary { messages } } }",
    "three levels": "{ usage { models(limit: 5) { model metrics { requests } usage { timeseries("
    "granularity: DAY, fillGaps: false) { start metrics { requests } } } } } }",
}


def request(port: int, key: str, query: str) -> bytes:
    body = json.dumps({"query": query}).encode()
    head = [
        "POST /graphql HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        f"Authorization: Bearer {key}",
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def measure(port: int, prepared: bytes, clients: int, seconds: float) -> tuple[float, float]:
    """(requests/s, p50 latency in ms) from `clients` concurrent clients."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()

    async def client() -> None:
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            status, body = await post(port, prepared)
            if status != 200 or b'"errors"' in body:
                raise SystemExit(f"bench: {status} {body[:300]!r}")
            latencies.append(time.perf_counter() - began)

    await asyncio.gather(*(client() for _ in range(clients)))
    return len(latencies) / (time.perf_counter() - started), statistics.median(latencies) * 1000


async def main(args: argparse.Namespace) -> None:
    url = await create_database(args.server_url)
    rows: list[str] = []
    port = free_port()
    server = start_server(url, port, 1)
    try:
        key = await api_key(url, Role.ADMIN)
        for label, query in QUERIES.items():
            prepared = request(port, key, query)
            await measure(port, prepared, args.clients, 1.0)  # warm-up
            profiler = None
            if args.profile and label == "three levels":
                profiler = await asyncio.create_subprocess_exec(
                    "py-spy", "record", "--format", "raw", "-o", str(args.profile),
                    "-p", str(server.pid), "-d", str(int(args.seconds)), "-r", "200",
                    "--nonblocking",
                )  # fmt: skip
            rate, p50 = await measure(port, prepared, args.clients, args.seconds)
            if profiler is not None:
                await profiler.wait()
            rows.append(f"| `{query}` | {rate:,.0f} | {p50:.1f} ms |")
            print(f"{label:>14}: {rate:7.1f} req/s, p50 {p50:6.1f} ms ({args.clients} clients)")
    finally:
        server.terminate()
        server.wait()
        await drop_database(args.server_url, url)
    if args.record:
        record_section(
            "overhead",
            "## Per-request overhead\n\n"
            f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}; one server"
            f" worker on an empty database, {args.clients} concurrent clients for {args.seconds:g}"
            " s per query (a new connection per request). Command: `python bench/overhead.py"
            " --record`\n\n| query | requests/s | p50 |\n|---|---|---|\n" + "\n".join(rows) + "\n",
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--server-url", default=DEFAULT_SERVER)
    parser.add_argument("--profile", type=Path, help="py-spy the 3-level query (raw stacks) here")
    parser.add_argument("--record", action="store_true", help="write bench/RESULTS.md")
    sys.exit(asyncio.run(main(parser.parse_args())))
