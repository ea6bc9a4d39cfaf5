"""The size bound of a /graphql request and its answer, checked outside GraphQL: a body is read
up to the bound and refused past it before anything parses it (a 30 MB document or variable
would otherwise be parsed whole, and sent to the database); an answer past its bound is
replaced by an error rather than cut."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope


def query_string_too_long(scope: Scope, limit: int) -> bool:
    """Whether a GET's query string (document and variables) is longer than `limit` bytes."""
    query_string: bytes = scope.get("query_string", b"")
    return len(query_string) > limit


async def read_bounded(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None as soon as it (or its declared length) passes `limit`
    bytes; what is past the bound is never read."""
    declared = Headers(scope=scope).get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            return b"".join(chunks)
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands over `body` once, then waits for what the client sends next
    (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def too_large_request(limit: int) -> dict[str, Any]:
    """The 413 answer, in GraphQL's error format."""
    return _error(
        f"the request is larger than the {limit:,} bytes this server accepts on /graphql"
        " (USAGEQL_MAX_GRAPHQL_BYTES): send fewer records per request (or POST them to"
        " /v1/events), or shorten the query and its variables",
        {"code": "PAYLOAD_TOO_LARGE", "limit": limit},
    )


def too_large_answer(answer: Any, size: int, limit: int) -> dict[str, Any]:
    """What replaces an answer of `size` bytes past `limit`: an error, and the answer's cost."""
    refusal = _error(
        f"the answer would be {size:,} bytes, more than the {limit:,} this server sends"
        " (USAGEQL_MAX_RESPONSE_BYTES): ask for fewer rows (limit, first, a shorter from/to,"
        " a coarser granularity) or fewer fields, or page through the rows",
        {"code": "RESPONSE_TOO_LARGE", "bytes": size, "limit": limit},
    )
    extensions = answer.get("extensions") if isinstance(answer, dict) else None
    return {"data": None, **refusal, **({"extensions": extensions} if extensions else {})}


def _error(message: str, extensions: dict[str, Any]) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": extensions}]}
