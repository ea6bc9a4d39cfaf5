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
import os
import resource
import signal
import statistics
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from harness import (
    DEFAULT_SERVER,
    WORK,
    Run,
    batches,
    cpu_seconds,
    create_database,
    database_facts,
    drop_database,
    events_file,
    free_port,
    ingest_key,
    send,
    start_server,
)
from results import machine, record_section


def compact_days(url: str, server_pid: int) -> dict[str, float]:
    """Add the days sent to the daily and monthly rollups (`usageql compact`, through today: the
    server adds each day once it has ended, so every event costs this once); the CPU seconds it
    took, by who spent them."""
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    before, children = cpu_seconds(server_pid), _children_cpu()
    subprocess.run(
        [sys.executable, "-m", "usageql", "compact", "--until", tomorrow.isoformat()],
        env={**os.environ, "DATABASE_URL": url, "USAGEQL_LOG_LEVEL": "warning"},
        check=True,
    )
    after = cpu_seconds(server_pid)
    return {
        "usageql compact": _children_cpu() - children,
        "PostgreSQL": after["PostgreSQL"] - before["PostgreSQL"],
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def report(run: Run, compaction: dict[str, float], command: str) -> str:
    mib = 2**20
    rss = [r for _, r in run.rss_samples]
    quarter = max(len(rss) // 4, 1)
    latencies = sorted(run.latencies)
    p50 = statistics.median(latencies)
    p95 = latencies[int(len(latencies) * 0.95) - 1] if len(latencies) > 1 else latencies[0]
    spent = run.cpu_seconds
    who_spent = ", ".join(spent) + ", all"
    per_event = " / ".join(
        f"{seconds / run.events * 1e6:.1f}" for seconds in [*spent.values(), sum(spent.values())]
    )
    compacted = " / ".join(
        f"{seconds / run.events * 1e6:.1f}"
        for seconds in [*compaction.values(), sum(compaction.values())]
    )
    every = (sum(spent.values()) + sum(compaction.values())) / run.events * 1e6
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
            f"| CPU per event while sending: {who_spent} | {per_event} µs |",
            f"| CPU per event adding the days afterwards: {', '.join(compaction)}, all"
            f" | {compacted} µs |",
            f"| **CPU per event, sending and adding the days** | **{every:.1f} µs** |",
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
    bodies = batches(path, args.batch, args.gzip, hold_back=2 * args.clients)
    url = await create_database(args.server_url)
    port = free_port()
    log = WORK / "ingest-server.log"  # the latest run's, kept to look into
    log.unlink(missing_ok=True)
    # The days are added after sending (compact_days), not by the server while it receives them.
    server = start_server(url, port, args.workers, env={"USAGEQL_COMPACT_SECONDS": "0"}, log=log)
    key = await ingest_key(url)
    run = Run(
        events=args.events,
        batch=args.batch,
        clients=args.clients,
        gzip=args.gzip,
        workers=args.workers,
    )
    try:
        requests = len(bodies.bodies)
        print(f"bench: sending {args.events:,} events in {requests} requests", file=sys.stderr)
        await send(run, bodies, port, server.pid, key)
        compaction = compact_days(url, server.pid)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(60)
    run.database_bytes, run.postgres_version, stored = await database_facts(url)
    await drop_database(args.server_url, url)
    command = "python bench/ingest.py " + " ".join(sys.argv[1:])
    section = report(run, compaction, command.strip())
    print(section)
    if stored != bodies.messages or run.rejected or run.duplicates:
        raise SystemExit(
            f"bench: stored {stored:,} of {bodies.messages:,} messages,"
            f" {run.duplicates:,} duplicates, {run.rejected:,} rejected"
            f" (first: {run.rejections}); see {log}"
        )
    if not args.no_record:
        record_section("ingest", section)


if __name__ == "__main__":
    asyncio.run(main())
