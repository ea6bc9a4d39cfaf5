"""What the benchmarks share: the demo events, a database of their own, `usageql serve` as users
run it, API keys, requests sent as wrk would, and the server's memory."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import psutil
from sqlalchemy import text

from usageql.auth import Role, create_key
from usageql.db.engine import asyncpg_url, create_engine
from usageql.demo.generate import DemoGenerator, DemoOptions

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "work"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/test"
END = datetime(2026, 11, 1, tzinfo=UTC)  # fixed, so cached event files stay valid

# Events per demo message: chats and ratings add about 19%, a little less on small runs, so a run
# that falls short asks again for more messages (the lines it made before stay the same).
EVENTS_PER_MESSAGE = (1.19, 1.1, 1.0)


@dataclass
class Run:
    """Everything one ingestion run measured."""

    events: int
    batch: int
    clients: int
    gzip: bool
    workers: int
    seconds: float = 0.0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejections: list[object] = field(default_factory=list)  # the first few, to show
    latencies: list[float] = field(default_factory=list)
    rss_samples: list[tuple[float, int]] = field(default_factory=list)
    database_bytes: int = 0
    postgres_version: str = ""
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # while sending, by who spent it

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def events_file(events: int, seed: int) -> Path:
    """NDJSON of `events` demo records (messages, chats and ratings) in time order, as live
    traffic arrives, made once and cached."""
    path = WORK / f"events-{events}-{seed}-ordered.ndjson"
    if path.exists():
        return path
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"bench: generating {events:,} events into {path} ...", file=sys.stderr)
    partial = path.with_suffix(".partial")
    written = 0
    for ratio in EVENTS_PER_MESSAGE:
        written = _generate(partial, events, seed, int(events / ratio))
        if written == events:
            _order(partial, path)
            partial.unlink()
            return path
    raise SystemExit(f"bench: the generator made only {written:,} events")


def _generate(path: Path, events: int, seed: int, messages: int) -> int:
    """Write up to `events` records of a demo of `messages` messages; how many were written."""
    written = 0
    options = DemoOptions(messages=messages, days=90, apps=4, users=3000, seed=seed, end=END)
    with path.open("wb") as out:
        for batch, _ in DemoGenerator(options, batch_size=10_000).batches():
            for record in batch:
                if written == events:
                    return written
                out.write(orjson.dumps(record) + b"\n")
                written += 1
    return written


def _order(source: Path, target: Path) -> None:
    """Copy `source` to `target` sorted by timestamp (stable: a chat record stays before its
    first message, which has the same timestamp). The generator makes one chat at a time over
    the whole period; sorting by the ISO text is exact for these UTC timestamps."""
    print(f"bench: ordering {source.name} by time ...", file=sys.stderr)
    lines = source.read_bytes().splitlines(keepends=True)
    marker = b'"timestamp":"'

    def moment(line: bytes) -> bytes:
        start = line.index(marker) + len(marker)
        return line[start : line.index(b'"', start)]

    lines.sort(key=moment)
    with target.open("wb") as out:
        out.writelines(lines)


@dataclass
class Bodies:
    """Request bodies, and for each the body that must be acknowledged before it is sent."""

    bodies: list[bytes]
    after: list[int | None]
    messages: int  # lines that are messages


def batches(path: Path, size: int, compress: bool, *, hold_back: int) -> Bodies:
    """The file as request bodies of about `size` lines each.

    Ratings go `hold_back` bodies later than their place in time, and that body is sent only
    once the body they were taken from is acknowledged: half of the ratings name only their
    message, which must be stored first (live ratings come minutes after the answer)."""
    bodies: list[bytes] = []
    after: list[int | None] = []
    lines: list[bytes] = []
    held: list[tuple[int, bytes]] = []  # (the body it was taken from, line)
    waits: int | None = None
    messages = 0

    def flush() -> None:
        nonlocal waits
        bodies.append(b"".join(lines))
        after.append(waits)
        lines.clear()
        waits = None
        while held and held[0][0] + hold_back <= len(bodies):
            waits, line = held.pop(0)
            lines.append(line)

    with path.open("rb") as source:
        for line in source:
            messages += b'"type":' not in line
            if b'"type":"feedback"' in line:
                held.append((len(bodies), line))
            else:
                lines.append(line)
            if len(lines) >= size:
                flush()
    if lines:
        flush()
    if held or lines:  # the ratings left, in a body of their own after the last
        if held:
            waits = held[-1][0]
            lines.extend(line for _, line in held)
            held.clear()
        flush()
    compressed = [gzip.compress(b, 1) for b in bodies] if compress else bodies
    return Bodies(compressed, after, messages)


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
    """The database's size in bytes, PostgreSQL's version, and the messages stored."""
    engine = create_engine(url, pool_size=1)
    async with engine.connect() as connection:
        size = int(await connection.scalar(text("SELECT pg_database_size(current_database())")))
        version = str(await connection.scalar(text("SHOW server_version")))
        stored = int(await connection.scalar(text("SELECT count(*) FROM messages")))
    await engine.dispose()
    return size, version, stored


async def api_key(url: str, role: Role) -> str:
    """A key of `role` for the benchmark's database, as an operator would make one."""
    engine = create_engine(url, pool_size=1)
    try:
        key, _ = await create_key(engine, role, name="benchmark")
    finally:
        await engine.dispose()
    return key


async def ingest_key(url: str) -> str:
    """An ingest key for the benchmark's database, as an operator would make one."""
    return await api_key(url, Role.INGEST)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(
    url: str,
    port: int,
    workers: int,
    *,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
) -> subprocess.Popen[bytes]:
    """`usageql serve` on `url`, ready; `env` adds settings, `log` takes its stdout and stderr."""
    environment = {**os.environ, "DATABASE_URL": url, "USAGEQL_PORT": str(port), **(env or {})}
    environment.setdefault("USAGEQL_LOG_LEVEL", "warning")
    if workers > 1:
        environment["USAGEQL_WORKERS"] = str(workers)
    with contextlib.ExitStack() as files:
        output = subprocess.DEVNULL if log is None else files.enter_context(log.open("ab"))
        server = subprocess.Popen(
            [sys.executable, "-m", "usageql", "serve"],
            env=environment,
            stdout=output,
            stderr=output,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.kill()
    raise SystemExit("bench: the server did not become ready" + (f"; see {log}" if log else ""))


def cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU time spent so far by the server (its process and workers), by PostgreSQL (every
    `postgres` process, and the backends that have exited, which their parent has reaped) and by
    this process, the load generator."""
    server = psutil.Process(server_pid)
    spent = {"server": 0.0, "PostgreSQL": 0.0, "load generator": _cpu(psutil.Process())}
    for process in [server, *server.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            spent["server"] += _cpu(process)
    for process in psutil.process_iter(["name"]):
        if process.info["name"] != "postgres":
            continue
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            times = process.cpu_times()
            spent["PostgreSQL"] += times.user + times.system + times.children_user
            spent["PostgreSQL"] += times.children_system
    return spent


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def sample_memory(
    pid: int, samples: list[tuple[float, int]], stop: asyncio.Event, started: float
) -> None:
    """The server's resident memory: its process and its workers, together."""
    process = psutil.Process(pid)
    while not stop.is_set():
        rss = sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
        samples.append((time.perf_counter() - started, rss))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.25)


def request_bytes(
    body: bytes,
    port: int,
    compressed: bool,
    key: str,
    *,
    path: str = "/v1/events",
    content_type: str = "application/x-ndjson",
    request_id: str | None = None,
) -> bytes:
    """A whole HTTP/1.1 POST, built once, so sending costs the client almost nothing."""
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Connection: close",  # a new connection per request: the kernel spreads them over workers
        f"Authorization: Bearer {key}",
    ]
    if compressed:
        head.append("Content-Encoding: gzip")
    if request_id is not None:
        head.append(f"X-Request-ID: {request_id}")
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


async def send(run: Run, bodies: Bodies, port: int, server_pid: int, key: str) -> None:
    """Post every body from `run.clients` concurrent clients, as wrk would: raw sockets, no
    HTTP library, so the client takes as little CPU as possible from the server's cores. A body
    goes only after the one it waits for (see `batches`) was acknowledged."""
    queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
    for number, body in enumerate(bodies.bodies):
        queue.put_nowait((number, request_bytes(body, port, run.gzip, key)))
    acknowledged = [asyncio.Event() for _ in bodies.bodies]

    async def client() -> None:
        while not queue.empty():
            number, request = queue.get_nowait()
            waits = bodies.after[number]
            if waits is not None:
                await acknowledged[waits].wait()
            began = time.perf_counter()
            status, body = await post(port, request)
            run.latencies.append(time.perf_counter() - began)
            if status != 200:
                raise SystemExit(f"bench: {status} {body[:300]!r}")
            answer = orjson.loads(body)
            run.accepted += answer["accepted"]
            run.duplicates += answer["duplicates"]
            run.rejected += len(answer["rejected"])
            if answer["rejected"] and not run.rejections:
                run.rejections = answer["rejected"][:3]
            acknowledged[number].set()

    stop = asyncio.Event()
    cpu_before = cpu_seconds(server_pid)
    started = time.perf_counter()
    sampler = asyncio.create_task(sample_memory(server_pid, run.rss_samples, stop, started))
    await asyncio.gather(*(client() for _ in range(run.clients)))
    run.seconds = time.perf_counter() - started
    cpu_after = cpu_seconds(server_pid)
    run.cpu_seconds = {who: cpu_after[who] - cpu_before[who] for who in cpu_after}
    stop.set()
    await sampler
