"""When the database cannot serve a request right now: recognising it, and what clients are told.

A stopped, restarting or unreachable PostgreSQL is no fault of the request and no bug of ours:
the client is told so with 503 and `Retry-After`, and may send the same request again (ingestion
is idempotent by record id, so a batch whose fate is unknown is safe to resend).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from asyncpg.exceptions import PostgresError
from sqlalchemy.exc import DBAPIError

RETRY_AFTER_SECONDS = 5  # PostgreSQL restarts, fails over or comes back from a crash in seconds

QUERY_CANCELED = "57014"  # SQLSTATE of a statement cancelled by statement_timeout
# SQLSTATEs meaning "not now": shutting down, crashed, starting up, out of connections.
_NOT_NOW = frozenset({"57P01", "57P02", "57P03", "53300"})
_CONNECTION_EXCEPTION = "08"  # class 08: the connection failed or was lost

DATABASE_UNAVAILABLE = (
    "the database is unavailable (stopped, restarting or unreachable): retry in a few seconds"
)
KEY_CHECK_UNAVAILABLE = (
    "the API key cannot be checked because the database is unavailable (stopped, restarting or"
    " unreachable): retry in a few seconds"
)
INGEST_UNAVAILABLE = (
    "the batch may not have been stored: the database is unavailable (stopped, restarting or"
    " unreachable) or a statement ran past USAGEQL_STATEMENT_TIMEOUT_MS; send the same batch"
    " again in a few seconds (records are idempotent by id, so nothing is stored twice)"
)


class Unavailable(Exception):  # noqa: N818 (a state of the database, not an error of ours)
    """The database cannot serve this request now; `message` tells the client, who may retry
    after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int = RETRY_AFTER_SECONDS) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


def sqlstates(error: DBAPIError | PostgresError) -> set[str]:
    """The SQLSTATEs PostgreSQL reported for `error`: asyncpg's own exception (as COPY raises
    it), or SQLAlchemy's wrapper of it (in `orig`, or in that one's cause)."""
    orig = getattr(error, "orig", None)
    layers = (error, orig, None if orig is None else orig.__cause__)
    codes = {getattr(layer, name, None) for layer in layers for name in ("sqlstate", "pgcode")}
    return {code for code in codes if isinstance(code, str)}


def is_outage(error: BaseException, *, timeouts: bool = False) -> bool:
    """True when `error`, raised by a database call, means the database is unavailable (with
    `timeouts`: or a statement ran past the statement timeout).

    Any OSError counts: a database call's only I/O is the connection (refused, reset, a missing
    socket file, a timeout), and SQLAlchemy passes connection failures through unwrapped.
    """
    if isinstance(error, Unavailable | OSError):
        return True
    if not isinstance(error, DBAPIError | PostgresError):
        return False
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    codes = sqlstates(error)
    return (
        bool(codes & _NOT_NOW)
        or any(code.startswith(_CONNECTION_EXCEPTION) for code in codes)
        or (timeouts and QUERY_CANCELED in codes)
    )


@contextmanager
def database_call(message: str, *, timeouts: bool = False) -> Iterator[None]:
    """Raise `Unavailable(message)` when the database calls in the block find it unavailable."""
    try:
        yield
    except (OSError, DBAPIError, PostgresError) as error:
        if not is_outage(error, timeouts=timeouts):
            raise
        raise Unavailable(message) from error
