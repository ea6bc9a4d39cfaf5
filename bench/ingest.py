"""Ingestion benchmark: events per second through POST /v1/events, and the server's memory.

Builds N demo events (cached in bench/work/ by N and seed), starts `usageql serve` on a fresh
database as users run it, sends the events as NDJSON batches from C concurrent clients, samples the
server's resident memory, and records the figures in bench/RESULTS.md.

    python bench/ingest.py --events 1000000            # the recorded run
    python bench/ingest.py --events 100000 --no-record # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import psutil
from sqlalchemy import text

from results import machine, record_section
from usageql.auth import Role, create_key
from usageql.db.engine import asyncpg_url, create_engine
from usageql.demo.generate import DemoGenerator, DemoOptions

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "work"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/test"
END = datetime(2026, 11, 1, tzinfo=UTC)  # fixed, so cached event files stay valid


@dataclass
class Run:
    """Everything one run measured."""

    events: int
    batch: int
    clients: int
    gzip: bool
    workers: int
    seconds: float = 0.0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    latencies: list[float] = field(default_factory=list)
    rss_samples: list[tuple[float, int]] = field(default_factory=list)
    database_bytes: int = 0
    postgres_version: str = ""

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def events_file(events: int, seed: int) -> Path:
    """NDJSON of `events` demo records (messages, chats and ratings), made once and cached."""
    path = WORK / f"events-{events}-{seed}.ndjson"
    if path.exists():
        return path
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"bench: generating {events:,} events into {path} ...", file=sys.stderr)
    partial = path.with_suffix(".partial")
    written = 0
    # The demo counts messages; chats and ratings add about 20%: ask for fewer messages.
    options = DemoOptions(messages=int(events / 1.19), days=90, apps=4, users=3000, seed=seed,
                          end=END)  # fmt: skip
    with partial.open("wb") as out:
        for batch, _ in DemoGenerator(options, batch_size=10_000).batches():
            for record in batch:
                if written == events:
                    break
                out.write(orjson.dumps(record) + b"\n")
                written += 1
    if written < events:
        raise SystemExit(f"bench: the generator made only {written:,} events")
    partial.rename(path)
    return path


def batches(path: Path, size: int, compress: bool) -> tuple[list[bytes], int]:
    """The file as request bodies of `size` lines each, and how many lines are messages."""
    bodies: list[bytes] = []
    lines: list[bytes] = []
    messages = 0
    with path.open("rb") as source:
        for line in source:
            messages += b'"type":' not in line
            lines.append(line)
            if len(lines) == size:
                bodies.append(b"".join(lines))
                lines = []
    if lines:
        bodies.append(b"".join(lines))
    return ([gzip.compress(b, 1) for b in bodies] if compress else bodies), messages


async def create_database(server_url: str) -> str:
    name = f"usageql_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server_url, pool_size=1).execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        quoted = admin.dialect.identifier_preparer.quote(name)
        await connection.execute(text(f"CREATE DATABASE {quoted}"))
    await admin.dispose()
    return asyncpg_url(server_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(server_url: str, url: str) -> None:
    name = asyncpg_url(url).database or ""
    admin = create_engine(server_url, pool_size=1).execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        quoted = admin.dialect.identifier_preparer.quote(name)
        await connection.execute(text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
    await admin.dispose()


async def database_facts(url: str) -> tuple[int, str, int]:
    engine = create_engine(url, pool_size=1)
    async with engine.connect() as connection:
        size = int(await connection.scalar(text("SELECT pg_database_size(current_database())")))
        version = str(await connection.scalar(text("SHOW server_version")))
        stored = int(await connection.scalar(text("SELECT count(*) FROM messages")))
    await engine.dispose()
    return size, version, stored


async def ingest_key(url: str) -> str:
    """An ingest key for the benchmark's database, as an operator would make one."""
    engine = create_engine(url, pool_size=1)
    try:
        key, _ = await create_key(engine, Role.INGEST, name="benchmark")
    finally:
        await engine.dispose()
    return key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": url, "USAGEQL_PORT": str(port)}
    env.setdefault("USAGEQL_LOG_LEVEL", "warning")
    if workers > 1:
        env["USAGEQL_WORKERS"] = str(workers)
    server = subprocess.Popen(
        [sys.executable, "-m", "usageql", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.kill()
    raise SystemExit("bench: the server did not become ready")


async def sample_memory(pid: int, run: Run, stop: asyncio.Event, started: float) -> None:
    """The server's resident memory: its process and its workers, together."""
    process = psutil.Process(pid)
    while not stop.is_set():
        rss = sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
        run.rss_samples.append((time.perf_counter() - started, rss))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.25)


def request_bytes(body: bytes, port: int, compressed: bool, key: str) -> bytes:
    """A whole HTTP/1.1 POST, built once, so sending costs the client almost nothing."""
    head = [
        "POST /v1/events HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/x-ndjson",
        f"Content-Length: {len(body)}",
        "Connection: close",  # a new connection per request: the kernel spreads them over workers
        f"Authorization: Bearer {key}",
    ]
    if compressed:
        head.append("Content-Encoding: gzip")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def post(port: int, request: bytes) -> tuple[int, bytes]:
    """Send one prepared request; (status, body). The server closes the connection after it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    response = await reader.read()
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def send(run: Run, bodies: list[bytes], port: int, server_pid: int, key: str) -> None:
    """Post every body from `run.clients` concurrent clients, as wrk would: raw sockets, no
    HTTP library, so the client takes as little CPU as possible from the server's cores."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(request_bytes(body, port, run.gzip, key))

    async def client() -> None:
        while not queue.empty():
            request = queue.get_nowait()
            began = time.perf_counter()
            status, body = await post(port, request)
            run.latencies.append(time.perf_counter() - began)
            if status != 200:
                raise SystemExit(f"bench: {status} {body[:300]!r}")
            answer = orjson.loads(body)
            run.accepted += answer["accepted"]
            run.duplicates += answer["duplicates"]
            run.rejected += len(answer["rejected"])

    stop = asyncio.Event()
    started = time.perf_counter()
    sampler = asyncio.create_task(sample_memory(server_pid, run, stop, started))
    await asyncio.gather(*(client() for _ in range(run.clients)))
    run.seconds = time.perf_counter() - started
    stop.set()
    await sampler


def report(run: Run, command: str) -> str:
    mib = 2**20
    rss = [r for _, r in run.rss_samples]
    quarter = max(len(rss) // 4, 1)
    latencies = sorted(run.latencies)
    p50 = statistics.median(latencies)
    p95 = latencies[int(len(latencies) * 0.95) - 1] if len(latencies) > 1 else latencies[0]
    verdict = "met" if run.rate >= 50_000 else f"missed by {50_000 - run.rate:,.0f} events/s"
    flat = "flat" if max(rss[-quarter:]) <= max(rss[:quarter]) * 1.25 else "growing"
    return "\n".join(
        [
            "## Ingestion: POST /v1/events",
            "",
            f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; PostgreSQL"
            f" {run.postgres_version} on the same machine; `usageql serve` with default"
            " settings but for `--workers`.",
            f"Command: `{command}`",
            "",
            "| figure | value |",
            "|---|---|",
            f"| events sent (messages, chats, ratings) | {run.events:,} |",
            f"| batch size, concurrent clients, gzip, server workers | {run.batch:,},"
            f" {run.clients}, {'yes' if run.gzip else 'no'}, {run.workers} |",
            f"| accepted, duplicates, rejected | {run.accepted:,}, {run.duplicates:,},"
            f" {run.rejected:,} |",
            f"| wall time | {run.seconds:.1f} s |",
            f"| **throughput** | **{run.rate:,.0f} events/s** (target 50,000: {verdict}) |",
            f"| request latency p50 / p95 | {p50 * 1000:.0f} ms / {p95 * 1000:.0f} ms |",
            f"| server RSS first quarter / last quarter / peak | {max(rss[:quarter]) / mib:.0f}"
            f" / {max(rss[-quarter:]) / mib:.0f} / {max(rss) / mib:.0f} MiB ({flat}) |",
            f"| database size after | {run.database_bytes / mib:,.0f} MiB |",
            "",
        ]
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--gzip", action="store_true", help="send gzip-compressed bodies")
    parser.add_argument("--workers", type=int, default=1, help="usageql serve --workers")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--server-url", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_SERVER))
    parser.add_argument("--no-record", action="store_true", help="print, do not write RESULTS.md")
    args = parser.parse_args()

    path = events_file(args.events, args.seed)
    bodies, messages = batches(path, args.batch, args.gzip)
    url = await create_database(args.server_url)
    port = free_port()
    server = start_server(url, port, args.workers)
    key = await ingest_key(url)
    run = Run(
        events=args.events,
        batch=args.batch,
        clients=args.clients,
        gzip=args.gzip,
        workers=args.workers,
    )
    try:
        print(f"bench: sending {args.events:,} events in {len(bodies)} requests", file=sys.stderr)
        await send(run, bodies, port, server.pid, key)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(60)
    run.database_bytes, run.postgres_version, stored = await database_facts(url)
    await drop_database(args.server_url, url)
    if stored != messages or run.rejected or run.duplicates:
        raise SystemExit(f"bench: stored {stored:,} of {messages:,} messages; see the server")
    command = "python bench/ingest.py " + " ".join(sys.argv[1:])
    section = report(run, command.strip())
    print(section)
    if not args.no_record:
        record_section("ingest", section)


if __name__ == "__main__":
    asyncio.run(main())
