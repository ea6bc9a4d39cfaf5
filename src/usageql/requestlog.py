"""ASGI middleware that gives every HTTP request an id and logs it once with its timing.

It also answers what escapes the app, so even that answer carries the id: 503 with
`Retry-After` for an unavailable database, else 500 naming the id the traceback is logged under.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from asyncpg.exceptions import PostgresError
from sqlalchemy.exc import DBAPIError
from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from usageql.db.engine import StatementCounter, counting_statements
from usageql.db.outage import DATABASE_UNAVAILABLE, Unavailable, is_outage

log = logging.getLogger("usageql.http")

REQUEST_ID_HEADER = "x-request-id"
CLIENT_CLOSED_REQUEST = 499  # logged for a client that went away before its answer (as nginx)
_ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestLogMiddleware:
    """Sets `scope["state"]["request_id"]`, echoes it as X-Request-ID and logs the request with
    its status, duration, the number of SQL statements it ran and the tables they read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = incoming if _ACCEPTABLE_ID.fullmatch(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        responding = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, responding
            if message["type"] == "http.response.start":
                status = message["status"]
                responding = True
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        with counting_statements() as statements:
            try:
                await self.app(scope, receive, send_with_id)
            except ClientDisconnect:
                status = CLIENT_CLOSED_REQUEST  # nobody is left to answer
            except Exception as error:
                if responding:  # too late to answer: the server closes the connection
                    log.exception("failed while responding", extra={"request_id": request_id})
                    raise
                await _failure(error, request_id)(scope, receive, send_with_id)
            finally:
                self._log(scope, request_id, status, started, statements)

    @staticmethod
    def _log(
        scope: Scope, request_id: str, status: int, started: float, statements: StatementCounter
    ) -> None:
        log.info(
            "%s %s %d",
            scope["method"],
            scope["path"],
            status,
            extra={
                "request_id": request_id,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "sql_statements": statements.count,
                "tables": sorted(statements.tables),  # raw events, or which rollups
            },
        )


def _failure(error: Exception, request_id: str) -> JSONResponse:
    """The answer to an exception that escaped the app, logged under the request id."""
    outage = error if isinstance(error, Unavailable) else None
    # Not any OSError: out here it may come from anything, not only the database.
    if isinstance(error, DBAPIError | PostgresError) and is_outage(error, timeouts=True):
        outage = Unavailable(DATABASE_UNAVAILABLE)
    if outage is not None:
        log.warning("unavailable: %r", error.__cause__ or error, extra={"request_id": request_id})
        body = {"error": outage.message, "requestId": request_id}
        headers = {"Retry-After": str(outage.retry_after)}
        return JSONResponse(body, status_code=503, headers=headers)
    log.error("unhandled error", exc_info=error, extra={"request_id": request_id})
    message = f"internal error (request id {request_id}); it is logged under that id"
    return JSONResponse({"error": message, "requestId": request_id}, status_code=500)
