"""Liveness and readiness endpoints for orchestrators and load balancers."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse

from usageql import __version__
from usageql.db.database import Database
from usageql.db.outage import RETRY_AFTER_SECONDS

log = logging.getLogger(__name__)


async def healthz(request: Request) -> JSONResponse:
    """200 while the process is up; touches nothing else."""
    return JSONResponse({"status": "ok", "version": __version__})


async def readyz(request: Request) -> JSONResponse:
    """200 when the database answers and its schema is at the code's revision, else 503 (with
    Retry-After while the database cannot be reached)."""
    database: Database = request.app.state.database
    try:
        state = await database.migration_state()
    except Exception as error:  # any failure to reach the database means "not ready"
        log.warning("readiness check failed", exc_info=True)
        return JSONResponse(
            {"status": "unavailable", "reason": f"database unreachable: {type(error).__name__}"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    body = {"status": "ready", "revision": state.current}
    if not state.up_to_date:
        reason = (
            f"database schema is at revision {state.current or 'none'}, this version needs"
            f" {state.head}: run `usageql migrate`"
        )
        return JSONResponse({**body, "status": "unavailable", "reason": reason}, status_code=503)
    return JSONResponse(body)
