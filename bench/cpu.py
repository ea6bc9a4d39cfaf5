"""CPU per request of the example dashboards: the server's (in this process) and PostgreSQL's.

Wall-clock times on a shared machine move with its neighbours; CPU seconds move far less. This
runs the app in-process (no HTTP server: httpx's ASGI transport) against a kept data set
(`python bench/queries.py --keep-database` prints its URL) and reports, per operation of
examples/*.graphql (and each field of the overview's `usage`), the median wall time and the CPU
spent per request by this process and by every PostgreSQL process of the machine (so run it on
an otherwise idle database server). To compare two trees side by side, run it alternately with
each tree's `src` first on PYTHONPATH:

    python bench/cpu.py --database URL
    python bench/cpu.py --database URL --runs 12 --only Overview "Overview: tags"
    PYTHONPATH=<other worktree>/src python bench/cpu.py --database URL
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

import httpx

from harness import api_key, cpu_seconds
from queries import TOP, TOP_VARIABLES, Dashboard, operations, top_of
from usageql.app import create_app_from_env
from usageql.auth import Role

ENV = {
    "USAGEQL_STATEMENT_TIMEOUT_MS": "0",
    "USAGEQL_COMPACT_SECONDS": "0",  # nothing but the requests measured
    "USAGEQL_LOG_LEVEL": "warning",
}


async def top(client: httpx.AsyncClient, headers: dict[str, str]) -> Dashboard:
    """The top app and model of the dashboards' period, as bench/queries.py asks them."""
    body = {"query": TOP, "operationName": "Top", "variables": TOP_VARIABLES}
    return top_of((await client.post("/graphql", json=body, headers=headers)).json()["data"])


async def measure(args: argparse.Namespace) -> None:
    os.environ.update({**ENV, "DATABASE_URL": args.database})
    key = await api_key(args.database, Role.ADMIN)
    app = create_app_from_env()
    headers = {"Authorization": f"Bearer {key}"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            board = await top(client, headers)
            for op in operations(board):
                if args.only and op.label not in args.only:
                    continue
                body = {"query": op.document, "operationName": op.name, "variables": op.variables}
                for _ in range(args.warmups):
                    (await client.post("/graphql", json=body, headers=headers)).raise_for_status()
                spent, walls = cpu_seconds(os.getpid()), []
                for _ in range(args.runs):
                    started = time.perf_counter()
                    response = await client.post("/graphql", json=body, headers=headers)
                    walls.append((time.perf_counter() - started) * 1000)
                    if response.status_code != 200 or "errors" in response.json():
                        raise SystemExit(f"bench: {op.label} failed: {response.text[:500]}")
                now = cpu_seconds(os.getpid())  # this process is the server and its client
                server, postgres = (
                    (now[part] - spent[part]) * 1000 / args.runs
                    for part in ("server", "PostgreSQL")
                )
                print(
                    f"{op.label:28s} wall p50 {statistics.median(walls):7.1f} ms   CPU per request:"
                    f" server {server:6.1f}  PostgreSQL {postgres:6.1f}"
                    f"  all {server + postgres:6.1f} ms",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="a kept data set's URL")
    parser.add_argument("--runs", type=int, default=30, help="requests measured per operation")
    parser.add_argument("--warmups", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="operation labels, as bench/queries.py prints")
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
