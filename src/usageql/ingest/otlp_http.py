"""`POST /v1/traces`: an OTLP/HTTP traces receiver, as any OpenTelemetry exporter sends to it.

The request is protobuf (`application/x-protobuf`, what the SDKs' exporters send) or OTLP's JSON
(`application/json`), optionally gzip. The answer is in the request's encoding: an
`ExportTraceServiceResponse`, whose partial success names the spans rejected and why, and says
how many spans were not model calls (not stored, not rejected). Refusals of the whole request are
a `google.rpc.Status`; 429 and 503 carry Retry-After, which exporters honour when they retry.
"""

from __future__ import annotations

from typing import Any

import orjson
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.requests import Request
from starlette.responses import Response

from usageql.auth import Principal
from usageql.ingest.http import (
    RequestRejected,
    admitted,
    check_batch_size,
    read_batch,
    store,
)
from usageql.ingest.otlp_spans import MODEL_CALLS, read_request, records_of
from usageql.ingest.pipeline import IngestResult
from usageql.ingest.readers import BodyError

ROUTE = "/v1/traces"
PRODUCER = "otlp"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
NAMED = 5  # rejected spans named in the answer's message; the rest are counted
# google.rpc.Code of each HTTP status a refusal has.
_CODES = {400: 3, 401: 16, 403: 7, 413: 8, 415: 3, 429: 8, 503: 14}


def _media(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _encoded(request: Request, message: Any) -> tuple[bytes, str]:
    """A protobuf message in the request's encoding (protobuf unless it sent JSON)."""
    if _media(request) == JSON:
        return orjson.dumps(json_format.MessageToDict(message)), JSON
    return message.SerializeToString(), PROTOBUF


def _status(code: int, message: str) -> bytes:
    """A google.rpc.Status (code = 1, message = 2), encoded by hand: its two scalar fields need
    no package of their own."""
    text = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(number: int) -> bytes:
    encoded = bytearray()
    while True:
        low, number = number & 0x7F, number >> 7
        encoded.append(low | (0x80 if number else 0))
        if not number:
            return bytes(encoded)


def refuse_as_status(
    request: Request, status: int, body: dict[str, Any], headers: dict[str, str]
) -> Response:
    """A refusal as OTLP asks for one: a google.rpc.Status in the request's encoding."""
    code, message = _CODES.get(status, 2), str(body["error"])
    if _media(request) == JSON:
        content = orjson.dumps({"code": code, "message": message})
        return Response(content, status, headers, media_type=JSON)
    return Response(_status(code, message), status, headers, media_type=PROTOBUF)


async def _receive(request: Request, principal: Principal) -> Response:
    try:
        spans = records_of(await _request(request), principal)
        check_batch_size(len(spans.records), request.app.state.settings.max_batch_records)
    except RequestRejected as refusal:
        return refuse_as_status(request, refusal.status, {"error": refusal.message}, {})
    result = (
        await store(request, spans.records, principal, PRODUCER)
        if spans.records
        else IngestResult()
    )
    notes = [f"span {r.id or r.location}: {r.error}" for r in result.rejected[:NAMED]]
    if len(result.rejected) > NAMED:
        notes.append(f"and {len(result.rejected) - NAMED} more rejected")
    if spans.skipped:
        calls = ", ".join(sorted(MODEL_CALLS))
        notes.append(
            f"{spans.skipped} span(s) were not model calls (gen_ai.operation.name {calls})"
            " and were not stored"
        )
    answer = ExportTraceServiceResponse()
    if notes:
        answer.partial_success.rejected_spans = len(result.rejected)
        answer.partial_success.error_message = "; ".join(notes)
    content, encoding = _encoded(request, answer)
    return Response(content, 200, media_type=encoding)


async def _request(request: Request) -> ExportTraceServiceRequest:
    """The request's traces; RequestRejected for another media type or a body not one."""
    media = _media(request)
    if media not in (PROTOBUF, JSON):
        raise RequestRejected(
            415, f"Content-Type {media!r} is not supported; OTLP/HTTP sends {PROTOBUF} or {JSON}"
        )
    try:
        return read_request(media, await read_batch(request))
    except BodyError as error:
        raise RequestRejected(400, str(error)) from None


post_traces = admitted(ROUTE, _receive, refuse_as_status)
