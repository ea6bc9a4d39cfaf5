"""LiteLLM's standard logging payload (what its `generic_api` callback sends) as a message record.

One payload is one call LiteLLM made (or failed to make) to a model. It becomes one assistant
message, which the ingestion pipeline then validates, bounds, scope-checks and stores like any
record of `POST /v1/events`; docs/integrations.md says which field goes where. Prompts and
responses are not kept, but for the response's first choice as the content preview.

The id is LiteLLM's call id (`litellm_call_id`, else `id`): LiteLLM re-sends a batch whose post
timed out, and the same call id is a duplicate, not a second request.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from usageql.ingest.jsontext import json_problem
from usageql.ingest.pipeline import Location, RawRecord, Undecodable
from usageql.ingest.readers import BodyError

_TIMES = ("startTime", "endTime", "completionStartTime")


class PayloadError(ValueError):
    """A payload field LiteLLM always sends is missing or of the wrong type."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")


def read_payloads(body: bytes) -> list[RawRecord]:
    """Payloads from a body in any of LiteLLM's `log_format`s: a JSON array (`json_array`, the
    default), one object (`single`) or one object per line (`ndjson`); LiteLLM labels all three
    `application/json`, so the body itself says which it is."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        if body.lstrip()[:1] != b"{":
            problem = json_problem(error, multiline=b"\n" in body.strip())
            raise BodyError(f"the body is not valid JSON: {problem}") from None
        return list(_lines(body))
    if isinstance(value, dict):
        return [(Location("index", 0), message_of(value))]
    if not isinstance(value, list):
        raise BodyError(
            "expected LiteLLM's standard logging payloads: a JSON array of them, one object,"
            " or one object per line"
        )
    return [(Location("index", n), message_of(item)) for n, item in enumerate(value)]


def _lines(body: bytes) -> Iterator[RawRecord]:
    for number, line in enumerate(body.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            problem = json_problem(error, multiline=False)
            item = Undecodable(f"not valid JSON: {problem}; each line must be one payload")
        yield Location("line", number), message_of(item)


def message_of(payload: object) -> dict[str, Any] | Undecodable:
    """The message record of one payload, or why it cannot be one."""
    if isinstance(payload, Undecodable):
        return payload
    if not isinstance(payload, dict):
        kind = type(payload).__name__
        return Undecodable(f"expected a standard logging payload (a JSON object), got {kind}")
    call_id = _text(payload, "litellm_call_id") or _text(payload, "id")
    try:
        return _message(payload, call_id)
    except PayloadError as error:
        return Undecodable(str(error), id=call_id)


def _message(payload: Mapping[str, Any], call_id: str | None) -> dict[str, Any]:
    if call_id is None:
        raise PayloadError("litellm_call_id", "missing: each payload needs LiteLLM's call id")
    start, end, first_token = (_seconds(payload, name) for name in _TIMES)
    if start is None:
        raise PayloadError("startTime", "missing: when the call started, in epoch seconds")
    meta = _object(payload, "metadata")
    failed = payload.get("status") == "failure"
    record: dict[str, Any] = {
        "id": call_id,
        "timestamp": start,
        "role": "assistant",
        "model": _text(payload, "model") or _text(payload, "model_group"),
        "provider": _text(payload, "custom_llm_provider"),
        "chat_id": _text(payload, "session_id"),
        "user": _user(payload, meta),
        "api_key": _text(meta, "user_api_key_alias") or _text(meta, "user_api_key_hash"),
        "status": "error" if failed else "success",
        "usage": _usage(payload, meta),
        "tags": _tags(payload),
        "metadata": _metadata(payload, meta),
        "content": _preview(payload),
    }
    if failed:
        failure = _object(payload, "error_information")
        record["error_type"] = _text(failure, "error_class") or "error"
    if end is not None and end >= start:
        record["latency_ms"] = (end - start) * 1000
    if payload.get("stream") is True and first_token is not None and first_token >= start:
        record["ttft_ms"] = (first_token - start) * 1000
    cost = payload.get("response_cost")
    # LiteLLM reports 0 with debug info when the model is not in its price map: unknown, not free.
    if cost is not None and payload.get("response_cost_failure_debug_info") is None:
        record["cost"] = cost
    return {key: value for key, value in record.items() if value is not None}


def _user(payload: Mapping[str, Any], meta: Mapping[str, Any]) -> dict[str, str] | None:
    """The end user when LiteLLM has one, else the user of the LiteLLM key."""
    end_user = _text(payload, "end_user") or _text(meta, "user_api_key_end_user_id")
    if end_user is not None:
        return {"id": end_user}
    key_user = _text(meta, "user_api_key_user_id")
    if key_user is None:
        return None
    email = _text(meta, "user_api_key_user_email")
    return {"id": key_user} if email is None else {"id": key_user, "email": email}


def _usage(payload: Mapping[str, Any], meta: Mapping[str, Any]) -> dict[str, int]:
    """Token counts in usageql's names. LiteLLM's prompt tokens include cache reads and writes
    (it adds Anthropic's into them), as usageql's input tokens do."""
    counts = _object(meta, "usage_object") or _object(_object(payload, "response"), "usage")
    if not counts:
        counts = payload
    prompt = _object(counts, "prompt_tokens_details")
    completion = _object(counts, "completion_tokens_details")
    usage = {
        "input_tokens": _count(counts, "prompt_tokens"),
        "output_tokens": _count(counts, "completion_tokens"),
        "cache_read_tokens": _count(prompt, "cached_tokens")
        or _count(counts, "cache_read_input_tokens"),
        "cache_write_tokens": _count(prompt, "cache_write_tokens")
        or _count(prompt, "cache_creation_tokens")
        or _count(counts, "cache_creation_input_tokens"),
        "reasoning_tokens": _count(completion, "reasoning_tokens"),
    }
    return {name: value for name, value in usage.items() if value}


def _tags(payload: Mapping[str, Any]) -> list[Any] | None:
    tags = payload.get("request_tags")
    if tags is None or tags == []:
        return None
    if not isinstance(tags, list):
        raise PayloadError("request_tags", f"expected a list of tags, got {type(tags).__name__}")
    return tags


def _metadata(payload: Mapping[str, Any], meta: Mapping[str, Any]) -> dict[str, Any] | None:
    """The requester's metadata (its values that are text, numbers or booleans), then the team,
    model group and call type, which LiteLLM sets and which take precedence."""
    requester = _object(meta, "requester_metadata")
    kept: dict[str, Any] = {
        key: value
        for key, value in requester.items()
        if isinstance(value, str | bool) or _finite(value)
    }
    team = _text(meta, "user_api_key_team_alias") or _text(meta, "user_api_key_team_id")
    for key, value in (
        ("team", team),
        ("model_group", _text(payload, "model_group")),
        ("call_type", _text(payload, "call_type")),
    ):
        if value is not None:
            kept[key] = value
    return kept or None


def _preview(payload: Mapping[str, Any]) -> str | None:
    """The response's first choice's text (the pipeline keeps its first characters)."""
    choices = _object(payload, "response").get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    content = _object(choices[0], "message").get("content")
    return content if isinstance(content, str) and content else None


def _object(source: Mapping[str, Any], field: str) -> Mapping[str, Any]:
    """A nested object; absent or null is empty, anything else is LiteLLM's field misread."""
    value = source.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(field, f"expected an object, got {type(value).__name__}")
    return value


def _text(source: Mapping[str, Any], field: str) -> str | None:
    """A text field; LiteLLM sends "" for what it does not know, which is absent here."""
    value = source.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise PayloadError(field, f"expected a string, got {type(value).__name__}")
    return value


def _seconds(source: Mapping[str, Any], field: str) -> float | None:
    value = source.get(field)
    if value is None:
        return None
    if not _finite(value):
        raise PayloadError(field, f"expected epoch seconds (a number), got {value!r:.40}")
    return float(value)


def _count(source: Mapping[str, Any], field: str) -> int:
    """A token count (0 when absent); the pipeline bounds it from above."""
    value = source.get(field)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PayloadError(field, f"expected a whole number of tokens, got {value!r:.40}")
    return value


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
