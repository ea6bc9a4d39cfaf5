"""The keys of each usage shape (usageql.ingest.shapes): a typo is an error, never a silent 0.

usageql's own shape knows every key it may have, so any other key is an error. OpenAI's and
Anthropic's usage objects pass through with the keys those providers send, and with keys they
may add later, unless a key is one or two letters away from a key of the shape.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from usageql.ingest.parse import ParseOptions, RecordError, parse_record, parse_usage
from usageql.ingest.records import Message, Usage
from usageql.ingest.shapes import (
    ANTHROPIC,
    OPENAI_CHAT,
    OPENAI_RESPONSES,
    SHAPES,
    USAGEQL,
    mistaken_key,
    shape_of,
)

OPTIONS = ParseOptions(now=datetime(2025, 6, 1, 12, tzinfo=UTC))


def rejected(usage: object) -> str:
    """The error a message with this usage gets."""
    record = {"id": "m", "timestamp": "2025-06-01T10:00:00Z", "model": "m", "usage": usage}
    with pytest.raises(RecordError) as caught:
        parse_record(record, OPTIONS)
    return str(caught.value)


@pytest.mark.parametrize(
    ("usage", "error"),
    [
        pytest.param(
            {"input_token": 1000},
            "usage.input_token: unknown field (did you mean input_tokens?)",
            id="missing-s",
        ),
        pytest.param(
            {"input_tokens": 10, "ouput_tokens": 5},
            "usage.ouput_tokens: unknown field (did you mean output_tokens?)",
            id="missing-t",
        ),
        pytest.param(
            {"input_tokens": 10, "cache_reads": 5},
            "usage.cache_reads: unknown field (did you mean cache_read_tokens?)",
            id="close",
        ),
        pytest.param(
            {"inputTokens": 10, "outputTokens": 5},
            "usage.inputTokens: unknown field (did you mean input_tokens?)",
            id="camel-case",
        ),
        pytest.param(
            {"prompt_token": 10},
            "usage.prompt_token: unknown field (did you mean prompt_tokens?)",
            id="another-shape's-key",
        ),
        pytest.param({"input_tokens": 10, "zzz": 1}, "usage.zzz: unknown field", id="far"),
    ],
)
def test_an_unknown_key_in_usageql_usage_is_an_error(usage: object, error: str) -> None:
    assert rejected(usage) == error


@pytest.mark.parametrize(
    ("usage", "error"),
    [
        pytest.param(
            {"prompt_tokens": 10, "completion_token": 5},
            "usage.completion_token: unknown field (did you mean completion_tokens?)",
            id="openai-chat",
        ),
        pytest.param(
            {"prompt_tokens": 10, "prompt_tokens_details": {"cached_token": 5}},
            "usage.prompt_tokens_details.cached_token: unknown field (did you mean cached_tokens?)",
            id="openai-chat-details",
        ),
        pytest.param(
            {"completion_tokens": 10, "completion_tokens_details": {"reasonning_tokens": 5}},
            "usage.completion_tokens_details.reasonning_tokens: unknown field (did you mean"
            " reasoning_tokens?)",
            id="openai-chat-completion-details",
        ),
        pytest.param(
            {"input_tokens": 10, "output_tokens_details": {"reasoning_token": 5}},
            "usage.output_tokens_details.reasoning_token: unknown field (did you mean"
            " reasoning_tokens?)",
            id="openai-responses-details",
        ),
        pytest.param(
            {"input_tokens": 10, "ouput_tokens": 5, "cache_read_input_tokens": 0},
            "usage.ouput_tokens: unknown field (did you mean output_tokens?)",
            id="anthropic",
        ),
        pytest.param(
            {"input_tokens": 10, "cache_read_input_token": 5, "service_tier": "standard"},
            "usage.cache_read_input_token: unknown field (did you mean cache_read_input_tokens?)",
            id="anthropic-cache",
        ),
    ],
)
def test_a_typo_in_a_provider_usage_is_an_error(usage: object, error: str) -> None:
    assert rejected(usage) == error


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        pytest.param(  # every key OpenAI's chat completions usage has
            {
                "prompt_tokens": 1000,
                "completion_tokens": 200,
                "total_tokens": 1200,
                "prompt_tokens_details": {"cached_tokens": 600, "audio_tokens": 3},
                "completion_tokens_details": {
                    "reasoning_tokens": 50,
                    "audio_tokens": 4,
                    "accepted_prediction_tokens": 5,
                    "rejected_prediction_tokens": 6,
                },
            },
            Usage(input=1000, output=200, cache_read=600, reasoning=50),
            id="openai-chat",
        ),
        pytest.param(  # and what OpenAI-compatible gateways add (Groq, DeepSeek, LiteLLM)
            {
                "prompt_tokens": 1000,
                "completion_tokens": 200,
                "queue_time": 0.01,
                "prompt_time": 0.02,
                "completion_time": 0.3,
                "total_time": 0.33,
                "prompt_cache_hit_tokens": 600,
                "prompt_cache_miss_tokens": 400,
                "cache_read_input_tokens": 600,
                "prompt_tokens_details": {"cached_tokens": 600, "text_tokens": 1000},
            },
            Usage(input=1000, output=200, cache_read=600),
            id="openai-compatible",
        ),
        pytest.param(  # every key Anthropic's usage has
            {
                "input_tokens": 300,
                "output_tokens": 200,
                "cache_read_input_tokens": 600,
                "cache_creation_input_tokens": 100,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": 100,
                    "ephemeral_1h_input_tokens": 0,
                },
                "server_tool_use": {"web_search_requests": 1, "web_fetch_requests": 0},
                "service_tier": "standard",
                "inference_geo": "us",
                "speed": "standard",
            },
            Usage(input=1000, output=200, cache_read=600, cache_write=100),
            id="anthropic",
        ),
        pytest.param(  # Anthropic without cache fields: recognised by its other keys
            {"input_tokens": 300, "output_tokens": 200, "service_tier": "batch"},
            Usage(input=300, output=200),
            id="anthropic-without-cache-fields",
        ),
        pytest.param(
            {
                "input_tokens": 1000,
                "output_tokens": 200,
                "total_tokens": 1200,
                "input_tokens_details": {"cached_tokens": 600},
                "output_tokens_details": {"reasoning_tokens": 50},
            },
            Usage(input=1000, output=200, cache_read=600, reasoning=50),
            id="openai-responses",
        ),
    ],
)
def test_provider_usage_passes_through_with_the_keys_providers_send(
    usage: dict[str, object], expected: Usage
) -> None:
    assert parse_usage(usage) == expected
    record = {"id": "m", "timestamp": "2025-06-01T10:00:00Z", "model": "m", "usage": usage}
    message = parse_record(record, OPTIONS)
    assert isinstance(message, Message)
    assert message.usage == expected


@pytest.mark.parametrize(
    ("usage", "shape"),
    [
        ({}, USAGEQL),
        ({"input_tokens": 1, "output_tokens": 2}, USAGEQL),
        ({"input_tokens": 1, "reasoning_tokens": 0}, USAGEQL),
        ({"prompt_tokens": 1}, OPENAI_CHAT),
        ({"completion_tokens_details": {}}, OPENAI_CHAT),
        ({"input_tokens": 1, "cache_creation_input_tokens": 0}, ANTHROPIC),
        ({"input_tokens": 1, "server_tool_use": None}, ANTHROPIC),
        ({"input_tokens": 1, "input_tokens_details": {}}, OPENAI_RESPONSES),
        # LiteLLM passes Anthropic's cache fields beside OpenAI's counts, which include them.
        ({"prompt_tokens": 1, "cache_read_input_tokens": 0}, OPENAI_CHAT),
    ],
)
def test_a_shape_is_recognised_by_a_key_only_it_has(
    usage: dict[str, object], shape: object
) -> None:
    assert shape_of(usage) is shape


def test_each_shape_knows_the_keys_it_reads_and_total_tokens() -> None:
    assert USAGEQL.keys == {
        "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
        "reasoning_tokens", "total_tokens",
    }  # fmt: skip
    assert OPENAI_CHAT.nested["prompt_tokens_details"] == {"cached_tokens", "audio_tokens"}
    assert ANTHROPIC.nested == {}  # cache_creation and server_tool_use are not read
    assert [shape.strict for shape in SHAPES] == [False, False, False, True]


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("input_token", "unknown field (did you mean input_tokens?)"),  # one deletion
        ("inptu_tokens", "unknown field (did you mean input_tokens?)"),  # one swap
        ("output_tokenz", "unknown field (did you mean output_tokens?)"),  # one replacement
        ("iinput_tokenss", "unknown field (did you mean input_tokens?)"),  # two insertions
        ("inpt_tokns_", None),  # three edits
        ("service_time", "unknown field (did you mean service_tier?)"),
        ("region", None),
    ],
)
def test_a_provider_shape_rejects_keys_at_most_two_edits_from_its_own(
    key: str, problem: str | None
) -> None:
    assert mistaken_key(key, ANTHROPIC.keys, strict=False) == problem
