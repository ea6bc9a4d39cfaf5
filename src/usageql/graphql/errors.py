"""What errors become on their way out: retryable outages, hidden suggestions, short log lines.

These run as schema extensions around each operation, after every resolver, so they hold for any
field, including ones added later.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from starlette.responses import Response
from strawberry.extensions import SchemaExtension

from usageql.db.outage import DATABASE_UNAVAILABLE, Unavailable, is_outage
from usageql.query.execute import ServerBusyError

LOGGED_MESSAGE_CHARS = 300

# graphql-core appends " Did you mean 'a', 'b', or 'c'?" (or "... the enum value 'X'?") to
# messages; names never contain "?", so this takes exactly the suggestion.
_SUGGESTION = re.compile(r" Did you mean [^?]*\?")


def clipped(message: str) -> str:
    """`message` cut to LOGGED_MESSAGE_CHARS for a log line (errors may quote huge inputs)."""
    if len(message) <= LOGGED_MESSAGE_CHARS:
        return message
    return f"{message[:LOGGED_MESSAGE_CHARS]}... ({len(message):,} characters)"


def retryable(original: BaseException) -> Unavailable | None:
    """What a resolver's exception means for a client who may retry, if it is an outage: the
    database unavailable (any statement, even one that hit the statement timeout in a write;
    reads that hit it are QueryTimeoutErrors, the client's to fix) or the pool exhausted."""
    if isinstance(original, Unavailable):
        return original
    if isinstance(original, ServerBusyError):
        return Unavailable(str(original), retry_after=1)
    if is_outage(original, timeouts=True):
        return Unavailable(DATABASE_UNAVAILABLE)
    return None


class Outages(SchemaExtension):
    """Answer an operation that met an unavailable database with 503, `Retry-After` and, for
    each such error, a clear message with code UNAVAILABLE and the request id (not a masked
    internal error: nothing is wrong with the request or the server)."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors: list[GraphQLError] | None = getattr(result, "errors", None)
        if result is None or not errors:
            return
        context = self.execution_context.context
        request_id = _request_id(context)
        retry_after = 0
        answered = []
        for error in errors:
            outage = None if error.original_error is None else retryable(error.original_error)
            if outage is None:
                answered.append(error)
                continue
            retry_after = max(retry_after, outage.retry_after)
            answered.append(
                GraphQLError(
                    outage.message,
                    nodes=error.nodes,
                    source=error.source,
                    positions=error.positions,
                    path=error.path,
                    extensions={
                        "code": "UNAVAILABLE",
                        "retryAfter": outage.retry_after,
                        "requestId": request_id,
                    },
                )
            )
        if not retry_after:
            return
        result.errors = answered
        response = getattr(context, "response", None)
        if isinstance(response, Response):
            response.status_code = 503
            response.headers["Retry-After"] = str(retry_after)


class HideSuggestions(SchemaExtension):
    """Drop graphql-core's "Did you mean ...?" from every error: with introspection off they
    would spell out the schema's field, argument, type and enum names one guess at a time."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors: list[GraphQLError] | None = getattr(result, "errors", None)
        if result is None or not errors:
            return
        result.errors = [_without_suggestion(error) for error in errors]


def _without_suggestion(error: GraphQLError) -> GraphQLError:
    message = _SUGGESTION.sub("", error.message)
    if message == error.message:
        return error
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions=error.extensions,
    )


def _request_id(context: Any) -> str | None:
    request = getattr(context, "request", None)
    state = getattr(request, "scope", {}).get("state", {}) if request is not None else {}
    request_id = state.get("request_id")
    return None if request_id is None else str(request_id)
