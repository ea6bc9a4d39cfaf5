"""Opaque pagination cursors: a position, signed so that a changed cursor is refused."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

import orjson

_SIGNATURE = 16  # bytes of HMAC-SHA256 kept


class CursorError(ValueError):
    """A cursor that this server did not issue for this list."""


def encode(key: bytes, kind: str, offset: int) -> str:
    """A cursor pointing after the row at `offset` of a `kind` list."""
    payload = orjson.dumps([kind, offset])
    signature = hmac.new(key, payload, hashlib.sha256).digest()[:_SIGNATURE]
    return base64.urlsafe_b64encode(signature + payload).decode().rstrip("=")


def decode(key: bytes, kind: str, cursor: str, argument: str = "after") -> int:
    """The offset a cursor points after, or a CursorError naming the argument."""
    problem = (
        f"{argument}: not a cursor from this list; use pageInfo.endCursor of the previous page"
    )
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise CursorError(problem) from None
    signature, payload = raw[:_SIGNATURE], raw[_SIGNATURE:]
    expected = hmac.new(key, payload, hashlib.sha256).digest()[:_SIGNATURE]
    if not hmac.compare_digest(signature, expected):
        raise CursorError(problem)
    found_kind, offset = orjson.loads(payload)
    if found_kind != kind or not isinstance(offset, int) or offset < 0:
        raise CursorError(problem)
    return offset
