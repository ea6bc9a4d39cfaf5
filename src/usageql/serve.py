"""Running the app under uvicorn: graceful stops and the ready banner."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette

from usageql import __version__
from usageql.config import Settings
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


def serve(app: Starlette, settings: Settings) -> int:
    """Serve until stopped; print how to use the server once it listens."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # usageql configured logging already
        access_log=False,  # requests are logged by RequestLogMiddleware
        lifespan="on",
    )
    return asyncio.run(_run(_Server(config), settings))


async def _run(server: uvicorn.Server, settings: Settings) -> int:
    async def announce() -> None:
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no event)
            await asyncio.sleep(0.05)
        base = f"http://{_display_host(settings.host)}:{settings.port}"
        print(banner(base), file=sys.stderr, flush=True)

    announcer = asyncio.create_task(announce())
    try:
        await server.serve()  # exits the process with status 3 when startup fails
    finally:
        announcer.cancel()
    return 0


def _display_host(host: str) -> str:
    if host in {"0.0.0.0", "::", ""}:  # noqa: S104 (only for display)
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def banner(base: str) -> str:
    """What to open and what to try first."""
    return "\n".join(
        (
            "",
            f"usageql {__version__} is ready.",
            f"  GraphiQL:  {base}/graphql  (open it in a browser)",
            f"  Health:    {base}/healthz  {base}/readyz",
            "GraphiQL opens on a first query to run; or try it with curl:",
            f"  curl -s {base}/graphql -H 'content-type: application/json' \\",
            f'       -d \'{{"query": "{FIRST_QUERY}"}}\'',
            "Stop with Ctrl+C.",
            "",
        )
    )
