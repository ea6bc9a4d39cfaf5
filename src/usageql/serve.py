"""Running the app under uvicorn: graceful stops and the ready banner."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import uvicorn
from uvicorn.supervisors.multiprocess import Multiprocess

from usageql import __version__
from usageql.app import StartupHook, create_app
from usageql.config import Settings
from usageql.db.database import open_database
from usageql.db.embedded import EmbeddedPostgres
from usageql.demo.key import DemoKey
from usageql.graphql.view import FIRST_QUERY as GRAPHIQL_FIRST_QUERY

# The curl example needs a one-line query.
FIRST_QUERY = " ".join(line.strip() for line in GRAPHIQL_FIRST_QUERY.splitlines())


class _Server(uvicorn.Server):
    """uvicorn's server, except that a graceful stop on SIGINT or SIGTERM exits with status 0
    (uvicorn re-raises the signal after shutting down, which ends the process with 130 or 143)."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


KeySource = Callable[[], DemoKey | None]  # the demo key, once `prepare` has it


def serve(settings: Settings, prepare: StartupHook, key: KeySource = lambda: None) -> int:
    """Serve until stopped; print how to use the server once it listens.

    `prepare` runs once the database is open and migrated, before requests are served. With
    more than one worker, this process opens the database (starting the embedded server if
    needed), migrates and prepares it, then runs the workers, which share it.
    """
    if settings.workers > 1:
        return _serve_workers(settings, prepare, key)
    app = create_app(settings, on_startup=[prepare])
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # usageql configured logging already
        access_log=False,  # requests are logged by RequestLogMiddleware
        lifespan="on",
    )
    return asyncio.run(_run(_Server(config), settings, key))


async def _run(server: uvicorn.Server, settings: Settings, key: KeySource) -> int:
    async def announce() -> None:
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no event)
            await asyncio.sleep(0.05)
        base = f"http://{_display_host(settings.host)}:{settings.port}"
        print(banner(base, settings, key()), file=sys.stderr, flush=True)

    announcer = asyncio.create_task(announce())
    try:
        await server.serve()  # exits the process with status 3 when startup fails
    finally:
        announcer.cancel()
    return 0


def _serve_workers(settings: Settings, prepare: StartupHook, key: KeySource) -> int:
    embedded = None if settings.database_url else EmbeddedPostgres(settings.embedded_pgdata)
    try:
        shared = settings
        if embedded is not None:
            shared = settings.with_changes(embedded_url=embedded.start())

        async def setup() -> None:
            async with open_database(shared, migrate=settings.migrate_on_start) as database:
                await prepare(database)

        asyncio.run(setup())
        os.environ.update(shared.with_changes(migrate_on_start=False).to_env())
        config = uvicorn.Config(
            "usageql.app:create_app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_config=None,
            access_log=False,
        )
        sock = config.bind_socket()
        base = f"http://{_display_host(settings.host)}:{settings.port}"
        print(banner(base, settings, key()), file=sys.stderr, flush=True)
        Multiprocess(config, sockets=[sock]).run()
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


def _display_host(host: str) -> str:
    if host in {"0.0.0.0", "::", ""}:  # noqa: S104 (only for display)
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def banner(base: str, settings: Settings, demo: DemoKey | None) -> str:
    """What to open, how to authenticate, and what to try first.

    Commands in the docs send `$USAGEQL_API_KEY`, so the banner shows how to set it.
    """
    workers = settings.workers
    serving = f"usageql {__version__} is " + (
        "ready" if workers == 1 else f"starting {workers} workers"
    )
    lines = ["", f"{serving}.", f"  Dashboard: {base}/dashboard  (open it in a browser)"]
    lines.append(f"  GraphiQL:  {base}/graphql")
    lines.append(f"  Health:    {base}/healthz  {base}/readyz")
    auth = ' -H "Authorization: Bearer $USAGEQL_API_KEY"'
    if not settings.auth:
        lines.append("  Authentication is disabled (USAGEQL_AUTH=disabled): for local use only.")
        auth = ""
    elif demo is not None:
        lines += [
            f"  API key:   {demo.key}",
            *(f"             {line}" for line in _demo_key_note(demo)),
            f"  For the docs' commands:  export USAGEQL_API_KEY={demo.key}",
            "  The dashboard and GraphiQL ask for it when they open; the browser remembers it.",
        ]
    else:
        lines += [
            "  Queries need an API key. Make an admin key into USAGEQL_API_KEY, which the docs'",
            "  commands send:  export USAGEQL_API_KEY=$(usageql keys create --role admin)",
            "  The dashboard and GraphiQL ask for it when they open; the browser remembers it.",
        ]
    lines += [
        "GraphiQL opens on a first query to run; or try it with curl:",
        f"  curl -s {base}/graphql -H 'content-type: application/json'{auth} \\",
        f'       -d \'{{"query": "{FIRST_QUERY}"}}\'',
        "Stop with Ctrl+C.",
        "",
    ]
    return "\n".join(lines)


def _demo_key_note(demo: DemoKey) -> tuple[str, str]:
    """Where the demo key is kept, and that it is the only demo key that works."""
    only = "no other demo key works"
    if demo.revoked:
        only += f" ({demo.revoked} revoked now)"
    if demo.problem is not None:
        return (
            f"(the demo admin key, made now: it could not be kept in {demo.path}: {demo.problem};",
            f"the next start makes another; {only})",
        )
    when = "made now; later starts show it again" if demo.made else "from an earlier start"
    return (f"(the demo admin key, kept in {demo.path} (mode 0600):", f"{when}; {only})")
