"""`POST /v1/events`: NDJSON or a JSON array (optionally gzip), answered after commit."""

from __future__ import annotations

import zlib
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from usageql.auth import AuthError, request_principal
from usageql.config import Settings
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


class RequestRejected(Exception):  # noqa: N818 (it is a response, not an error of ours)
    """The request as a whole is refused with `status` and a message saying how to fix it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def post_events(request: Request) -> JSONResponse:
    """Store a batch of records; 200 with accepted/duplicates/rejected, 422 if none was usable."""
    settings: Settings = request.app.state.settings
    ingestor: Ingestor = request.app.state.ingestor
    try:
        principal = await request_principal(
            request.headers.get("authorization"), request.app.state.keys
        )
    except AuthError as error:
        return JSONResponse(
            {"error": str(error)}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )
    if not principal.role.writes:
        return JSONResponse(
            {"error": f"this API key (role {principal.role.value}) may not write records: use an"
             " ingest or admin key"},
            status_code=403,
        )  # fmt: skip
    try:
        body = await read_body(request, settings.max_body_bytes)
        records = decode(request.headers.get("content-type", ""), body)
        check_batch_size(len(records), settings.max_batch_records)
    except RequestRejected as refusal:
        return JSONResponse({"error": refusal.message}, status_code=refusal.status)
    result = await ingestor.ingest(records, principal)
    nothing_usable = result.rejected and not (result.accepted or result.duplicates)
    return JSONResponse(result_body(result), status_code=422 if nothing_usable else 200)


def check_batch_size(count: int, limit: int) -> None:
    """Refuse a batch of more than `limit` records with 413."""
    if count > limit:
        raise RequestRejected(
            413,
            f"the batch has {count:,} records; at most {limit:,} are accepted per request"
            " (USAGEQL_MAX_BATCH_RECORDS): split it",
        )


def result_body(result: IngestResult) -> dict[str, Any]:
    """The JSON answer every ingestion path gives for a batch."""
    return {
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "rejected": [
            {r.location.kind: r.location.number, "id": r.id, "error": r.error}
            for r in result.rejected
        ],
    }


async def read_body(request: Request, limit: int) -> bytes:
    """The (decompressed) body, refusing more than `limit` bytes before or after gunzip."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in {"identity", "gzip"}:
        raise RequestRejected(415, f"Content-Encoding {encoding!r} is not supported; use gzip")
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
    return body


def _gunzip(data: bytes, limit: int, too_big: str) -> bytes:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(data, limit + 1)
    except zlib.error as error:
        raise RequestRejected(400, f"the body is not valid gzip: {error}") from None
    if len(body) > limit or inflater.unconsumed_tail:
        raise RequestRejected(413, too_big)
    if not inflater.eof:
        raise RequestRejected(400, "the gzip body is truncated")
    return body


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
