"""`POST /v1/events` (NDJSON or a JSON array of records), `POST /v1/integrations/litellm`
(LiteLLM's logging payloads), and what every receiver shares (`POST /v1/traces` too): the key's
admission, the body's limits and gzip, the pipeline, an answer after commit."""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from usageql.auth import AuthError, Principal, TooManyRequestsError, admit, request_principal
from usageql.config import Settings
from usageql.db.outage import INGEST_UNAVAILABLE, Unavailable, database_call
from usageql.ingest.litellm_payload import read_payloads
from usageql.ingest.pipeline import Ingestor, IngestResult, RawRecord
from usageql.ingest.readers import BodyError, read_json, read_ndjson

NDJSON_TYPES = {
    "application/x-ndjson",
    "application/ndjson",
    "application/jsonl",
    "application/jsonlines",
    "application/x-jsonlines",
}
JSON_TYPES = {"application/json"}


def needs_key(route: str) -> str:
    """What a 401 or 403 of `POST route` adds: the roles that may write records, and how to make
    such a key."""
    return f"POST {route} takes an ingest or admin key (`usageql keys create --role ingest`)"


KEY_NEEDED = needs_key("/v1/events")
Decoder = Callable[[str, bytes], list[RawRecord]]
"""Records from a body and its Content-Type; RequestRejected when the body cannot be read."""


class RequestRejected(Exception):  # noqa: N818 (it is a response, not an error of ours)
    """The request as a whole is refused with `status` and a message saying how to fix it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


Handle = Callable[[Request, Principal], Awaitable[Response]]
"""What a receiver does with an admitted request of a key that may write."""
Refuse = Callable[[Request, int, dict[str, Any], dict[str, str]], Response]
"""A refusal (status, JSON-shaped body with its `error`, headers) in the receiver's format."""


def refuse_as_json(
    _request: Request, status: int, body: dict[str, Any], headers: dict[str, str]
) -> Response:
    return JSONResponse(body, status_code=status, headers=headers)


def admitted(
    route: str, handle: Handle, refuse: Refuse = refuse_as_json
) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint of `POST route`: the caller's key checked (401), allowed to write (403) and
    holding one of its places among concurrent requests while `handle` runs (429 when all are
    taken); 503 when the database cannot check the key or store. Each with Retry-After where a
    retry may succeed."""
    key_needed = needs_key(route)

    async def receive(request: Request) -> Response:
        keys = request.app.state.keys
        try:
            principal = await request_principal(request.headers.get("authorization"), keys)
            admission = admit(keys, principal)
        except AuthError as error:
            body = {"error": f"{error}; {key_needed}"}
            return refuse(request, 401, body, {"WWW-Authenticate": "Bearer"})
        except (Unavailable, TooManyRequestsError) as refusal:
            return _retry_later(refusal, request, refuse)
        try:
            with admission:
                if not principal.role.writes:
                    denied = f"this API key (role {principal.role.value}) may not write records"
                    return refuse(request, 403, {"error": f"{denied}; {key_needed}"}, {})
                return await handle(request, principal)
        except Unavailable as outage:
            return _retry_later(outage, request, refuse)

    return receive


def receiver(
    route: str, decode: Decoder, producer: str
) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint of `POST route` (see `admitted`): the records `decode` reads from the body,
    stored as the `producer`'s (Message.producer); 200 with what was stored, already stored,
    applied (chats) and rejected; 422 if none was usable."""

    async def handle(request: Request, principal: Principal) -> Response:
        try:
            records = decode(request.headers.get("content-type", ""), await read_batch(request))
            check_batch_size(len(records), request.app.state.settings.max_batch_records)
        except RequestRejected as refusal:
            return JSONResponse({"error": refusal.message}, status_code=refusal.status)
        result = await store(request, records, principal, producer)
        nothing_usable = result.rejected and not (
            result.accepted or result.duplicates or result.described or result.replaced
        )
        return JSONResponse(result_body(result), status_code=422 if nothing_usable else 200)

    return admitted(route, handle)


def _retry_later(
    refusal: Unavailable | TooManyRequestsError, request: Request, refuse: Refuse
) -> Response:
    headers = {"Retry-After": str(refusal.retry_after)}
    if isinstance(refusal, TooManyRequestsError):
        return refuse(request, 429, {"error": str(refusal)}, headers)
    request_id = request.scope.get("state", {}).get("request_id")
    return refuse(request, 503, {"error": refusal.message, "requestId": request_id}, headers)


async def read_batch(request: Request) -> bytes:
    """The request's (decompressed) body, within the settings' limit (RequestRejected)."""
    settings: Settings = request.app.state.settings
    return await read_body(request, settings.max_body_bytes)


async def store(
    request: Request, records: list[RawRecord], principal: Principal, producer: str
) -> IngestResult:
    """The records through the app's pipeline (Unavailable when the database is away)."""
    ingestor: Ingestor = request.app.state.ingestor
    with database_call(INGEST_UNAVAILABLE, timeouts=True):
        return await ingestor.ingest(records, principal, producer=producer)


def check_batch_size(count: int, limit: int) -> None:
    """Refuse a batch of more than `limit` records with 413."""
    if count > limit:
        raise RequestRejected(
            413,
            f"the batch has {count:,} records; at most {limit:,} are accepted per request"
            " (USAGEQL_MAX_BATCH_RECORDS): split it",
        )


def result_body(result: IngestResult) -> dict[str, Any]:
    """The JSON answer every ingestion path gives for a batch. A conflict's `first` is the line
    or index (as the record's own) of the record kept for that id."""
    return {
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "described": result.described,
        "replaced": result.replaced,
        "rejected": [
            {r.location.kind: r.location.number, "id": r.id, "error": r.error}
            for r in result.rejected
        ],
        "conflicts": [
            {c.location.kind: c.location.number, "id": c.id, "first": c.first.number}
            for c in result.conflicts
        ],
    }


async def read_body(request: Request, limit: int) -> bytes:
    """The (decompressed) body, refusing more than `limit` bytes before or after decompression.
    gzip, and deflate (zlib's format, as HTTP names it), which OpenTelemetry's Python exporter
    offers besides."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in {"identity", "gzip", "deflate"}:
        raise RequestRejected(
            415, f"Content-Encoding {encoding!r} is not supported; use gzip (or deflate)"
        )
    too_big = (
        f"the request body is larger than {limit:,} bytes (USAGEQL_MAX_BODY_BYTES); send smaller"
        " batches"
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestRejected(413, too_big)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestRejected(413, too_big)
        chunks.append(chunk)
    body = b"".join(chunks)
    if encoding == "gzip":
        body = _gunzip(body, limit, too_big + " (after decompression)")
    elif encoding == "deflate":
        body = _inflate(body, limit, too_big + " (after decompression)")
    return body


def _inflate(data: bytes, limit: int, too_big: str) -> bytes:
    """A deflate (zlib) body, whole and within `limit` bytes; nothing may follow its stream."""
    inflater = zlib.decompressobj()
    try:
        body = inflater.decompress(data, limit + 1)
    except zlib.error as error:
        raise RequestRejected(400, f"the body is not valid deflate (zlib) data: {error}") from None
    if len(body) > limit or inflater.unconsumed_tail:
        raise RequestRejected(413, too_big)
    if not inflater.eof:
        raise RequestRejected(400, "the deflate body is truncated")
    if inflater.unused_data:
        extra = len(inflater.unused_data)
        raise RequestRejected(400, f"the body goes on after its deflate stream ({extra:,} bytes)")
    return body


GZIP_MAGIC = b"\x1f\x8b"
MAX_GZIP_MEMBERS = 10_000
"""Members of one gzip body: `cat a.gz b.gz` and producers that compress each chunk or record
on its own make several, a batch of USAGEQL_MAX_BATCH_RECORDS (10,000) at most one a record;
each costs a decompressor, and 32 MiB of empty members would take seconds of CPU."""
_FIRST_PIECE = 256  # bytes fed to a member's decompressor first; doubled for each next piece


def _gunzip(data: bytes, limit: int, too_big: str) -> bytes:
    """Every member of a gzip body (concatenated members are one valid gzip stream), within
    `limit` bytes in all. Anything after a member that is not another member is refused: bytes
    a decoder would skip could be records the sender believes were stored."""
    view = memoryview(data)
    body = bytearray()
    position = members = 0
    while position < len(view) or not members:
        if members and view[position : position + 2] != GZIP_MAGIC:
            extra = len(view) - position
            raise RequestRejected(
                400,
                "the body goes on after its gzip stream with data that is not another gzip"
                f" member ({extra:,} byte{'s' if extra > 1 else ''})",
            )
        members += 1
        if members > MAX_GZIP_MEMBERS:
            raise RequestRejected(
                413,
                f"the gzip body has more than {MAX_GZIP_MEMBERS:,} members (concatenated gzip"
                " streams); compress the batch as one stream",
            )
        position = _inflate_member(view, position, body, limit, too_big)
    return bytes(body)


def _inflate_member(
    view: memoryview, position: int, body: bytearray, limit: int, too_big: str
) -> int:
    """Decompress the member starting at `position` onto `body`; where the next one starts.
    Input goes in doubling pieces, so the bytes a member leaves over (copied by zlib) stay
    about as many as it had, and many small members cost linear time."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    piece_size = _FIRST_PIECE
    while not inflater.eof:
        if position >= len(view):
            raise RequestRejected(400, "the gzip body is truncated")
        piece = view[position : position + piece_size]
        try:
            body += inflater.decompress(piece, limit + 1 - len(body))
        except zlib.error as error:
            raise RequestRejected(400, f"the body is not valid gzip: {error}") from None
        if len(body) > limit or inflater.unconsumed_tail:
            raise RequestRejected(413, too_big)
        position += len(piece) - len(inflater.unused_data)
        piece_size *= 2
    return position


def decode(content_type: str, body: bytes) -> list[RawRecord]:
    """Records from a body, by its media type (sniffed when none is given)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if not media:
        media = "application/json" if body.lstrip()[:1] in (b"[", b"") else "application/x-ndjson"
    try:
        if media in NDJSON_TYPES:
            return list(read_ndjson(body.split(b"\n")))
        if media in JSON_TYPES:
            return read_json(body)
    except BodyError as error:
        raise RequestRejected(400, str(error)) from None
    raise RequestRejected(
        415,
        f"Content-Type {media!r} is not supported; send application/x-ndjson (one record per"
        " line) or application/json (an array of records)",
    )


def decode_litellm(content_type: str, body: bytes) -> list[RawRecord]:
    """Message records from LiteLLM's standard logging payloads, in any of its log formats."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media and media not in JSON_TYPES | NDJSON_TYPES:
        raise RequestRejected(
            415,
            f"Content-Type {media!r} is not supported; LiteLLM's generic_api callback sends"
            " application/json",
        )
    try:
        return read_payloads(body)
    except BodyError as error:
        raise RequestRejected(400, str(error)) from None


post_events = receiver("/v1/events", decode, "api")
post_litellm = receiver("/v1/integrations/litellm", decode_litellm, "litellm")
