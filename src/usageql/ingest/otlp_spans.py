"""OpenTelemetry GenAI spans, as an OTLP/HTTP traces request carries them, made message records.

A span whose `gen_ai.operation.name` is a model call (chat, text_completion, generate_content,
embeddings) is one request: an assistant message, which the ingestion pipeline then validates,
bounds, scope-checks and stores like any record. Other spans (HTTP handlers, databases, and the
GenAI agent and tool spans, whose token counts repeat their model calls') are neither stored nor
rejected: the answer says how many. docs/integrations.md lists which attribute goes where.

The message id is the span's trace and span id: an exporter that sends a batch again (OTLP
exporters retry on 429 and 503) adds nothing.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from usageql.auth import Principal
from usageql.ingest.pipeline import Location, RawRecord, Undecodable
from usageql.ingest.readers import BodyError

MODEL_CALLS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})
"""Operations that are one request to a model; agent, tool and workflow spans wrap them."""
METADATA_PREFIX = "usageql.metadata."
TAGS_ATTRIBUTE = "usageql.tags"
# Each usage count under the current semantic conventions' name first, then older and common ones.
_TOKENS = {
    "input_tokens": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
    "output_tokens": ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
    "cache_read_tokens": (
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
    ),
    "cache_write_tokens": (
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_write.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
    ),
    "reasoning_tokens": ("gen_ai.usage.reasoning.output_tokens",),
}
# Span attributes kept as metadata, under these keys.
_KEPT = {
    "gen_ai.operation.name": "operation",
    "gen_ai.agent.name": "agent",
    "server.address": "server",
}
_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId"})


@dataclass
class Spans:
    """What a request's spans became: records of the model calls, and the other spans' count."""

    records: list[RawRecord] = field(default_factory=list)
    skipped: int = 0


def read_request(content_type: str, body: bytes) -> ExportTraceServiceRequest:
    """The request, from protobuf or OTLP's JSON (hex ids, enums as numbers)."""
    request = ExportTraceServiceRequest()
    if content_type == "application/json":
        try:
            document = orjson.loads(body)
            json_format.ParseDict(_ids_as_base64(document), request, ignore_unknown_fields=True)
        except (ValueError, json_format.ParseError) as error:
            raise BodyError(f"the body is not an OTLP JSON traces request: {error}") from None
        return request
    try:
        request.ParseFromString(body)
    except DecodeError as error:
        raise BodyError(f"the body is not an OTLP protobuf traces request: {error}") from None
    return request


def _ids_as_base64(value: Any) -> Any:
    """OTLP JSON writes trace and span ids in hex; protobuf's JSON reads bytes as base64."""
    if isinstance(value, list):
        return [_ids_as_base64(item) for item in value]
    if not isinstance(value, dict):
        return value
    converted = {}
    for key, item in value.items():
        if key in _ID_FIELDS and isinstance(item, str):
            try:
                converted[key] = base64.b64encode(bytes.fromhex(item)).decode()
            except ValueError:
                raise ValueError(f"{key}: not a hex id: {item[:40]!r}") from None
        else:
            converted[key] = _ids_as_base64(item)
    return converted


def records_of(request: ExportTraceServiceRequest, principal: Principal) -> Spans:
    """A record per model-call span, located by its position among the request's spans."""
    spans = Spans()
    position = 0
    for resource_spans in request.resource_spans:
        service = _attributes(resource_spans.resource.attributes).get("service.name")
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                record = _record(span, service, principal)
                if record is None:
                    spans.skipped += 1
                else:
                    spans.records.append((Location("index", position), record))
                position += 1
    return spans


def _span_id(span: Span) -> str:
    """`trace id:span id`, in hex: the message id."""
    return f"{binascii.hexlify(span.trace_id).decode()}:{binascii.hexlify(span.span_id).decode()}"


def _record(
    span: Span, service: object, principal: Principal
) -> dict[str, Any] | Undecodable | None:
    attributes = _attributes(span.attributes)
    operation = attributes.get("gen_ai.operation.name")
    if operation not in MODEL_CALLS:
        return None
    identity = _span_id(span)
    if len(span.trace_id) != 16 or len(span.span_id) != 8:
        problem = "traceId, spanId: a span needs a 16-byte trace id and an 8-byte span id"
        return Undecodable(problem, id=identity)
    record: dict[str, Any] = {
        "id": identity,
        "timestamp": span.start_time_unix_nano / 1e9,
        "role": "assistant",
        "model": _first(attributes, "gen_ai.response.model", "gen_ai.request.model"),
        "provider": _first(attributes, "gen_ai.provider.name", "gen_ai.system"),
        "chat_id": _first(attributes, "gen_ai.conversation.id"),
        "user": _first(attributes, "user.id", "enduser.id"),
        "usage": _usage(attributes),
        "metadata": _metadata(attributes),
        "tags": attributes.get(TAGS_ATTRIBUTE),
    }
    if principal.apps is None or len(principal.apps) != 1:
        record["app"] = service  # a key bound to one app writes to it whatever the service
    if span.end_time_unix_nano >= span.start_time_unix_nano:
        record["latency_ms"] = (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6
    if span.status.code == Status.STATUS_CODE_ERROR:
        record["status"] = "error"
        record["error_type"] = _first(attributes, "error.type") or "error"
    return {key: value for key, value in record.items() if value is not None}


def _usage(attributes: Mapping[str, object]) -> dict[str, object]:
    """Token counts in usageql's names. The conventions count cache reads and writes in the
    input tokens and reasoning in the output tokens, as usageql does."""
    counts = {name: _first(attributes, *keys) for name, keys in _TOKENS.items()}
    return {name: count for name, count in counts.items() if count is not None}


def _metadata(attributes: Mapping[str, object]) -> dict[str, object]:
    kept = {
        key.removeprefix(METADATA_PREFIX): value
        for key, value in attributes.items()
        if key.startswith(METADATA_PREFIX)
    }
    for attribute, key in _KEPT.items():
        value = attributes.get(attribute)
        if value is not None:
            kept[key] = value
    return kept


def _first(attributes: Mapping[str, object], *keys: str) -> object:
    """The first of `keys` present, as sent (the pipeline names a value of the wrong type)."""
    return next((attributes[key] for key in keys if key in attributes), None)


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, object]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _value(value: AnyValue) -> object:
    """An attribute's value as JSON would carry it (NaN and infinities as text)."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {pair.key: _value(pair.value) for pair in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if kind == "double_value" and not math.isfinite(value.double_value):
        return str(value.double_value)
    return None if kind is None else getattr(value, kind)
