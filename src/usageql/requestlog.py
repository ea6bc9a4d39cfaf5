"""ASGI middleware that gives every HTTP request an id and logs it once with its timing."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from usageql.db.engine import counting_statements

log = logging.getLogger("usageql.http")

REQUEST_ID_HEADER = "x-request-id"
_ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestLogMiddleware:
    """Sets `scope["state"]["request_id"]`, echoes it as X-Request-ID and logs the request with
    its status, duration and the number of SQL statements it ran."""

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

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        with counting_statements() as statements:
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                self._log(scope, request_id, status, started, statements.count)

    @staticmethod
    def _log(scope: Scope, request_id: str, status: int, started: float, statements: int) -> None:
        log.info(
            "%s %s %d",
            scope["method"],
            scope["path"],
            status,
            extra={
                "request_id": request_id,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "sql_statements": statements,
            },
        )
