"""Validation and normalisation of single records (usageql.ingest.parse), without a database."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from usageql.ingest.parse import ParseOptions, RecordError, parse_record, parse_usage
from usageql.ingest.records import Chat, Feedback, Message, Usage, UserRef

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
OPTIONS = ParseOptions(now=NOW)
WHEN = "2025-06-01T10:00:00Z"
ABSENT = object()  # as a value in `changed`: remove the field

MESSAGE: dict[str, object] = {"id": "m-1", "timestamp": WHEN, "model": "gpt-4o"}
FEEDBACK: dict[str, object] = {
    "type": "feedback",
    "id": "f-1",
    "timestamp": WHEN,
    "model": "gpt-4o",
    "rating": 1,
}
CHAT: dict[str, object] = {"type": "chat", "id": "c-1", "timestamp": WHEN}
BASES = {"message": MESSAGE, "feedback": FEEDBACK, "chat": CHAT}
KINDS = pytest.mark.parametrize("kind", sorted(BASES))


def changed(base: Mapping[str, object], changes: Mapping[str, object]) -> dict[str, object]:
    """`base` with `changes` applied; a change to ABSENT removes the field."""
    record = {**base, **changes}
    return {key: value for key, value in record.items() if value is not ABSENT}


def rejection(raw: object, options: ParseOptions = OPTIONS) -> RecordError:
    with pytest.raises(RecordError) as caught:
        parse_record(raw, options)
    return caught.value


def assert_rejected(raw: object, field: str, problem: str, options: ParseOptions = OPTIONS) -> None:
    error = rejection(raw, options)
    assert error.field == field
    assert problem in error.problem


def parse_message(raw: object, options: ParseOptions = OPTIONS) -> Message:
    record = parse_record(raw, options)
    assert isinstance(record, Message)
    return record


def parse_feedback(raw: object) -> Feedback:
    record = parse_record(raw, OPTIONS)
    assert isinstance(record, Feedback)
    return record


def parse_chat(raw: object) -> Chat:
    record = parse_record(raw, OPTIONS)
    assert isinstance(record, Chat)
    return record


# The record as a whole.


def test_the_error_text_is_the_field_then_the_problem() -> None:
    error = rejection(changed(MESSAGE, {"role": "bot"}))
    assert str(error) == "role: expected one of user, assistant, system, tool, got 'bot'"


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ([MESSAGE], "an array"),
        ("m-1", "a string"),
        (42, "a number"),
        (None, "null"),
    ],
)
def test_a_record_that_is_not_an_object_is_rejected(raw: object, kind: str) -> None:
    error = rejection(raw)
    assert error.field == ""
    assert error.problem == f"a record must be a JSON object, got {kind}"
    assert str(error) == error.problem


def test_an_unknown_type_is_rejected() -> None:
    assert_rejected(
        changed(MESSAGE, {"type": "event"}),
        "type",
        "expected message, feedback or chat, got 'event'",
    )


def test_type_defaults_to_message() -> None:
    assert parse_message(MESSAGE) == parse_message(changed(MESSAGE, {"type": "message"}))


@pytest.mark.parametrize(
    ("base", "field", "suggestion"),
    [
        (MESSAGE, "modle", "model"),
        (MESSAGE, "lattency_ms", "latency_ms"),
        (FEEDBACK, "ratting", "rating"),
        (CHAT, "titel", "title"),
    ],
)
def test_an_unknown_field_is_rejected_with_a_suggestion(
    base: dict[str, object], field: str, suggestion: str
) -> None:
    error = rejection(changed(base, {field: "x"}))
    assert error.field == field
    assert error.problem == f"unknown field (did you mean {suggestion}?)"


@KINDS
def test_an_unknown_field_without_a_close_name_has_no_suggestion(kind: str) -> None:
    error = rejection(changed(BASES[kind], {"zzzzzz": 1}))
    assert (error.field, error.problem) == ("zzzzzz", "unknown field")


@pytest.mark.parametrize(("base", "field"), [(CHAT, "model"), (FEEDBACK, "usage")])
def test_a_field_of_another_record_type_is_unknown(base: dict[str, object], field: str) -> None:
    assert_rejected(changed(base, {field: "x"}), field, "unknown field")


# id


@KINDS
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        pytest.param(ABSENT, "required", id="missing"),
        pytest.param(None, "required", id="null"),
        pytest.param("", "must not be blank", id="empty"),
        pytest.param("   ", "must not be blank", id="blank"),
        pytest.param("x" * 201, "longer than 200 characters (201)", id="too-long"),
        pytest.param(42, "expected a string, got 42", id="number"),
        pytest.param(["m-1"], "expected a string, got an array", id="array"),
    ],
)
def test_an_invalid_id_is_rejected(kind: str, value: object, problem: str) -> None:
    assert_rejected(changed(BASES[kind], {"id": value}), "id", problem)


@KINDS
def test_an_id_of_200_characters_is_accepted(kind: str) -> None:
    assert parse_record(changed(BASES[kind], {"id": "x" * 200}), OPTIONS).id == "x" * 200


# timestamp


@KINDS
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        pytest.param(ABSENT, "required (ISO 8601 with offset", id="missing"),
        pytest.param("2025-13-01", "not an ISO 8601 date-time: '2025-13-01'", id="month-13"),
        pytest.param("yesterday", "not an ISO 8601 date-time: 'yesterday'", id="words"),
        pytest.param(
            "2025-06-01T10:00:00", "needs a UTC offset, e.g. Z or +02:00", id="naive-datetime"
        ),
        pytest.param("2025-06-01", "needs a UTC offset", id="naive-date"),
        pytest.param(
            "1999-12-31T23:59:59Z", "1999-12-31T23:59:59+00:00 is before 2000-01-01", id="1999"
        ),
        pytest.param(946_684_799, "is before 2000-01-01", id="epoch-1999"),
        pytest.param(
            "2025-06-02T12:00:01Z",
            "2025-06-02T12:00:01+00:00 is more than a day in the future",
            id="future",
        ),
        pytest.param(1_748_865_601_000, "is more than a day in the future", id="future-epoch-ms"),
        pytest.param(True, "expected a string or a number, got true", id="bool"),
        pytest.param([WHEN], "expected a string or a number, got an array", id="array"),
        pytest.param({"iso": WHEN}, "expected a string or a number, got an object", id="object"),
        pytest.param(float("nan"), "not a finite number: nan", id="nan"),
        pytest.param(float("inf"), "not a finite number: inf", id="inf"),
    ],
)
def test_an_invalid_timestamp_is_rejected(kind: str, value: object, problem: str) -> None:
    assert_rejected(changed(BASES[kind], {"timestamp": value}), "timestamp", problem)


def test_a_timestamp_with_an_offset_is_converted_to_utc() -> None:
    moment = parse_message(changed(MESSAGE, {"timestamp": "2025-06-01T14:30:00+02:00"})).timestamp
    assert moment == datetime(2025, 6, 1, 12, 30, tzinfo=UTC)
    assert moment.tzinfo is UTC


def test_epoch_seconds_and_epoch_milliseconds_give_the_same_moment() -> None:
    # 2025-06-01T00:00:00Z is 20,240 days after 1970-01-01: 20,240 x 86,400 s.
    seconds = 20_240 * 86_400
    assert seconds == 1_748_736_000
    in_seconds = parse_message(changed(MESSAGE, {"timestamp": seconds})).timestamp
    in_millis = parse_message(changed(MESSAGE, {"timestamp": seconds * 1000})).timestamp
    assert in_seconds == in_millis == datetime(2025, 6, 1, tzinfo=UTC)
    assert in_seconds.tzinfo is UTC
    assert in_millis.tzinfo is UTC


def test_fractional_epoch_seconds_keep_their_fraction() -> None:
    moment = parse_message(changed(MESSAGE, {"timestamp": 1_748_736_000.25})).timestamp
    assert moment == datetime(2025, 6, 1, 0, 0, 0, 250_000, tzinfo=UTC)


def test_a_timestamp_exactly_a_day_ahead_is_accepted() -> None:
    ahead = (NOW + timedelta(days=1)).isoformat()
    assert parse_message(changed(MESSAGE, {"timestamp": ahead})).timestamp == NOW + timedelta(1)


def test_the_future_limit_follows_the_parse_time() -> None:
    record = changed(MESSAGE, {"timestamp": "2025-06-03T00:00:00Z"})
    assert_rejected(record, "timestamp", "more than a day in the future")
    later = ParseOptions(now=datetime(2025, 6, 2, tzinfo=UTC))
    assert parse_message(record, later).timestamp == datetime(2025, 6, 3, tzinfo=UTC)


# app, role, status, model


@KINDS
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("*", "'*' is not an app id"),
        ("has space", "'has space' is not an app id"),
        ("-leading-dash", "is not an app id"),
        ("", "'' is not an app id"),
        ("a" * 101, "longer than 100 characters (101)"),
        (7, "expected a string, got 7"),
    ],
)
def test_an_invalid_app_is_rejected(kind: str, value: object, problem: str) -> None:
    assert_rejected(changed(BASES[kind], {"app": value}), "app", problem)


@KINDS
def test_app_defaults_to_default_and_accepts_id_punctuation(kind: str) -> None:
    assert parse_record(BASES[kind], OPTIONS).app == "default"
    chosen = changed(BASES[kind], {"app": "acme.prod:eu-1/web_2@x"})
    assert parse_record(chosen, OPTIONS).app == "acme.prod:eu-1/web_2@x"


@pytest.mark.parametrize(
    ("value", "shown"), [("bot", "'bot'"), ("Assistant", "'Assistant'"), (1, "1")]
)
def test_an_invalid_role_is_rejected(value: object, shown: str) -> None:
    assert_rejected(
        changed(MESSAGE, {"role": value}),
        "role",
        f"expected one of user, assistant, system, tool, got {shown}",
    )


@pytest.mark.parametrize("value", ["failed", "ok", True])
def test_an_invalid_status_is_rejected(value: object) -> None:
    assert_rejected(
        changed(MESSAGE, {"status": value}), "status", "expected one of success, error, got"
    )


def test_role_and_status_default_to_assistant_and_success() -> None:
    message = parse_message(MESSAGE)
    assert (message.role, message.status) == ("assistant", "success")


@pytest.mark.parametrize("role", [ABSENT, "assistant"], ids=["default-role", "assistant"])
@pytest.mark.parametrize("model", [ABSENT, None, ""], ids=["missing", "null", "empty"])
def test_an_assistant_message_needs_a_model(role: object, model: object) -> None:
    assert_rejected(
        changed(MESSAGE, {"role": role, "model": model}),
        "model",
        "required for assistant messages (the model that answered)",
    )


@pytest.mark.parametrize("role", ["user", "system", "tool"])
def test_other_roles_need_no_model(role: str) -> None:
    message = parse_message(changed(MESSAGE, {"role": role, "model": ABSENT}))
    assert message.role == role
    assert message.model is None


def test_a_model_that_is_not_a_string_is_rejected() -> None:
    assert_rejected(changed(MESSAGE, {"model": 4}), "model", "expected a string, got 4")


@pytest.mark.parametrize(
    ("field", "limit"),
    [("model", 200), ("provider", 200), ("source", 200), ("api_key", 200), ("chat_id", 200)],
)
def test_text_fields_have_a_length_limit(field: str, limit: int) -> None:
    assert_rejected(
        changed(MESSAGE, {field: "x" * (limit + 1)}),
        field,
        f"longer than {limit} characters ({limit + 1})",
    )


# usage: errors


@pytest.mark.parametrize(
    ("usage", "field", "problem"),
    [
        pytest.param("lots", "usage", "expected an object of token counts, got a string", id="s"),
        pytest.param([10, 5], "usage", "expected an object of token counts, got an array", id="a"),
        pytest.param(12, "usage", "expected an object of token counts, got a number", id="n"),
        pytest.param(
            {"input_tokens": -1}, "usage.input_tokens", "must not be negative, got -1", id="neg"
        ),
        pytest.param(
            {"output_tokens": 1.5},
            "usage.output_tokens",
            "expected a whole number, got 1.5",
            id="fraction",
        ),
        pytest.param(
            {"input_tokens": "10"},
            "usage.input_tokens",
            "expected a whole number, got '10'",
            id="string",
        ),
        pytest.param(
            {"input_tokens": True},
            "usage.input_tokens",
            "expected a whole number, got true",
            id="bool",
        ),
        pytest.param(
            {"reasoning_tokens": float("inf")},
            "usage.reasoning_tokens",
            "expected a whole number, got inf",
            id="inf",
        ),
        pytest.param(
            {"input_tokens": 2**53 + 1},
            "usage.input_tokens",
            "9007199254740993 is more than 1,000,000,000, the most tokens one request may report",
            id="huge",
        ),
        pytest.param(
            {"prompt_tokens": -5}, "usage.prompt_tokens", "must not be negative", id="openai-neg"
        ),
        pytest.param(
            {"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": 2.5}},
            "usage.prompt_tokens_details.cached_tokens",
            "expected a whole number, got 2.5",
            id="openai-cached-fraction",
        ),
        pytest.param(
            {"prompt_tokens": 10, "prompt_tokens_details": 3},
            "usage.prompt_tokens_details",
            "expected an object, got a number",
            id="openai-details-not-object",
        ),
        pytest.param(
            {"completion_tokens": 10, "completion_tokens_details": {"reasoning_tokens": "4"}},
            "usage.completion_tokens_details.reasoning_tokens",
            "expected a whole number, got '4'",
            id="openai-reasoning-string",
        ),
        pytest.param(
            {"input_tokens": 10, "output_tokens_details": {"reasoning_tokens": -1}},
            "usage.output_tokens_details.reasoning_tokens",
            "must not be negative",
            id="responses-neg",
        ),
        pytest.param(
            {"input_tokens": 10, "cache_creation_input_tokens": "many"},
            "usage.cache_creation_input_tokens",
            "expected a whole number, got 'many'",
            id="anthropic-string",
        ),
        pytest.param(
            {"input_tokens": 10, "output_tokens": 5, "total_tokens": 16},
            "usage.total_tokens",
            "16 is not input + output (10 + 5 = 15)",
            id="total-ours",
        ),
        pytest.param(
            {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 14},
            "usage.total_tokens",
            "14 is not input + output (10 + 5 = 15)",
            id="total-openai",
        ),
        pytest.param(
            {"input_tokens": 10, "output_tokens": 5, "total_tokens": "15"},
            "usage.total_tokens",
            "expected a whole number, got '15'",
            id="total-string",
        ),
        pytest.param(
            {"input_tokens": 100, "cache_read_tokens": 80, "cache_write_tokens": 30},
            "usage",
            "cache reads and writes (80 + 30) exceed the input tokens (100)",
            id="cache-exceeds-input",
        ),
        pytest.param(
            {"prompt_tokens": 100, "prompt_tokens_details": {"cached_tokens": 101}},
            "usage",
            "cache reads and writes (101 + 0) exceed the input tokens (100)",
            id="openai-cached-exceeds-prompt",
        ),
        pytest.param(
            {"output_tokens": 10, "reasoning_tokens": 11},
            "usage",
            "reasoning tokens (11) exceed the output tokens (10)",
            id="reasoning-exceeds-output",
        ),
        pytest.param(
            {"completion_tokens": 10, "completion_tokens_details": {"reasoning_tokens": 11}},
            "usage",
            "reasoning tokens (11) exceed the output tokens (10)",
            id="openai-reasoning-exceeds-completion",
        ),
    ],
)
def test_invalid_usage_is_rejected(usage: object, field: str, problem: str) -> None:
    assert_rejected(changed(MESSAGE, {"usage": usage}), field, problem)


# usage: normalisation

# One request: 1,000 prompt tokens, 600 of them read from the cache; 200 output tokens, 50 of
# them reasoning. OpenAI reports no cache writes, so they are 0 here.
OPENAI_COMPARABLE = Usage(input=1000, output=200, cache_read=600, cache_write=0, reasoning=50)


@pytest.mark.parametrize(
    "usage",
    [
        pytest.param(
            {
                "input_tokens": 1000,
                "output_tokens": 200,
                "cache_read_tokens": 600,
                "reasoning_tokens": 50,
                "total_tokens": 1200,
            },
            id="ours",
        ),
        pytest.param(
            {
                "prompt_tokens": 1000,
                "completion_tokens": 200,
                "total_tokens": 1200,
                "prompt_tokens_details": {"cached_tokens": 600, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 50,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
            id="openai-chat-completions",
        ),
        pytest.param(
            {
                "input_tokens": 1000,
                "input_tokens_details": {"cached_tokens": 600},
                "output_tokens": 200,
                "output_tokens_details": {"reasoning_tokens": 50},
                "total_tokens": 1200,
            },
            id="openai-responses",
        ),
    ],
)
def test_openai_shapes_normalise_to_our_names(usage: dict[str, object]) -> None:
    assert parse_usage(usage) == OPENAI_COMPARABLE
    assert parse_message(changed(MESSAGE, {"usage": usage})).usage == OPENAI_COMPARABLE


# The same kind of request at Anthropic: 1,000 prompt tokens of which 600 cache reads and 100
# cache writes, 200 output tokens. Anthropic's input_tokens counts only the 1000 - 600 - 100 = 300
# uncached tokens, and it reports no separate reasoning count.
ANTHROPIC_COMPARABLE = Usage(input=1000, output=200, cache_read=600, cache_write=100, reasoning=0)


@pytest.mark.parametrize(
    "usage",
    [
        pytest.param(
            {
                "input_tokens": 1000,
                "output_tokens": 200,
                "cache_read_tokens": 600,
                "cache_write_tokens": 100,
            },
            id="ours",
        ),
        pytest.param(
            {
                "input_tokens": 300,
                "cache_read_input_tokens": 600,
                "cache_creation_input_tokens": 100,
                "output_tokens": 200,
                "service_tier": "standard",
            },
            id="anthropic",
        ),
    ],
)
def test_anthropic_shape_adds_cache_tokens_to_input(usage: dict[str, object]) -> None:
    assert parse_usage(usage) == ANTHROPIC_COMPARABLE
    assert parse_message(changed(MESSAGE, {"usage": usage})).usage == ANTHROPIC_COMPARABLE


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"input_tokens": 50, "cache_read_input_tokens": 0}, Usage(input=50)),
        ({"input_tokens": 0, "cache_creation_input_tokens": 40}, Usage(input=40, cache_write=40)),
        ({"input_tokens": 5, "cache_read_input_tokens": 20}, Usage(input=25, cache_read=20)),
    ],
)
def test_either_anthropic_cache_field_selects_the_anthropic_convention(
    usage: dict[str, object], expected: Usage
) -> None:
    assert parse_usage(usage) == expected


def test_all_our_counts_are_kept_as_given() -> None:
    usage = parse_usage(
        {
            "input_tokens": 1000,
            "output_tokens": 200,
            "cache_read_tokens": 600,
            "cache_write_tokens": 100,
            "reasoning_tokens": 50,
            "total_tokens": 1200,
        }
    )
    assert usage == Usage(input=1000, output=200, cache_read=600, cache_write=100, reasoning=50)


@pytest.mark.parametrize(
    "usage",
    [
        Usage(),
        Usage(input=7),
        Usage(output=9, reasoning=4),
        Usage(input=1000, output=200, cache_read=600, cache_write=100, reasoning=50),
    ],
)
def test_usage_total_is_input_plus_output(usage: Usage) -> None:
    assert usage.total == usage.input + usage.output


def test_usage_total_counts_cache_and_reasoning_once() -> None:
    assert ANTHROPIC_COMPARABLE.total == 1200
    assert OPENAI_COMPARABLE.total == 1200


def test_absent_or_empty_usage_is_all_zero() -> None:
    assert parse_usage(None) == Usage()
    assert parse_usage({}) == Usage()
    assert parse_message(MESSAGE).usage == Usage()


def test_whole_float_token_counts_are_accepted_as_integers() -> None:
    usage = parse_usage({"input_tokens": 1000.0, "output_tokens": 2e2})
    assert usage == Usage(input=1000, output=200)
    assert isinstance(usage.input, int)
    assert isinstance(usage.output, int)


def test_parse_usage_raises_record_errors_itself() -> None:
    with pytest.raises(RecordError, match=r"^usage\.input_tokens: must not be negative, got -3$"):
        parse_usage({"input_tokens": -3})


# cost, latency_ms, ttft_ms


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        pytest.param(-0.01, "must not be negative, got -0.01", id="negative"),
        pytest.param("0.5", "expected a number, got '0.5'", id="string"),
        pytest.param(float("nan"), "not a finite number: nan", id="nan"),
        pytest.param(float("inf"), "not a finite number: inf", id="inf"),
        pytest.param(True, "expected a number, got true", id="bool"),
        pytest.param({"usd": 1}, "expected a number, got an object", id="object"),
        pytest.param(
            1e8, "100000000 is more than 100,000 USD, the most one request may cost", id="huge"
        ),
    ],
)
def test_an_invalid_cost_is_rejected(value: object, problem: str) -> None:
    assert_rejected(changed(MESSAGE, {"cost": value}), "cost", problem)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, Decimal(0)),
        (2, Decimal(2)),
        (0.1, Decimal("0.1")),
        (0.00012345678949, Decimal("0.0001234568")),
        (1e-12, Decimal(0)),
    ],
)
def test_cost_becomes_a_decimal_with_ten_places(value: float, expected: Decimal) -> None:
    cost = parse_message(changed(MESSAGE, {"cost": value})).cost
    assert cost == expected
    assert isinstance(cost, Decimal)
    assert cost.as_tuple().exponent == -10


def test_cost_is_absent_unless_given() -> None:
    assert parse_message(MESSAGE).cost is None


@pytest.mark.parametrize("field", ["latency_ms", "ttft_ms"])
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (-1, "must not be negative, got -1"),
        (-0.5, "must not be negative, got -0.5"),
        ("fast", "expected a number, got 'fast'"),
        (False, "expected a number, got false"),
        (float("nan"), "not a finite number: nan"),
    ],
)
def test_an_invalid_duration_is_rejected(field: str, value: object, problem: str) -> None:
    assert_rejected(changed(MESSAGE, {field: value}), field, problem)


def test_ttft_longer_than_latency_is_rejected() -> None:
    assert_rejected(
        changed(MESSAGE, {"latency_ms": 100, "ttft_ms": 500}),
        "ttft_ms",
        "500 is more than latency_ms 100",
    )


def test_ttft_equal_to_latency_is_accepted() -> None:
    message = parse_message(changed(MESSAGE, {"latency_ms": 100, "ttft_ms": 100}))
    assert (message.latency_ms, message.ttft_ms) == (100.0, 100.0)


def test_durations_are_floats() -> None:
    message = parse_message(changed(MESSAGE, {"latency_ms": 1500, "ttft_ms": 20.5}))
    assert isinstance(message.latency_ms, float)
    assert (message.latency_ms, message.ttft_ms) == (1500.0, 20.5)


# tags


@pytest.mark.parametrize("base", [MESSAGE, CHAT], ids=["message", "chat"])
@pytest.mark.parametrize(
    ("tags", "field", "problem"),
    [
        pytest.param("a,b", "tags", "expected an array of strings, got a string", id="string"),
        pytest.param({"a": 1}, "tags", "expected an array of strings, got an object", id="obj"),
        pytest.param(["a", ""], "tags[1]", "expected a non-empty string, got ''", id="empty"),
        pytest.param(["a", 5], "tags[1]", "expected a non-empty string, got 5", id="number"),
        pytest.param([None], "tags[0]", "expected a non-empty string, got null", id="null"),
        pytest.param(["x" * 201], "tags[0]", "longer than 200 characters", id="long"),
        pytest.param(
            [f"t{n}" for n in range(101)], "tags", "at most 100 tags, got 101", id="too-many"
        ),
    ],
)
def test_invalid_tags_are_rejected(
    base: dict[str, object], tags: object, field: str, problem: str
) -> None:
    assert_rejected(changed(base, {"tags": tags}), field, problem)


def test_a_hundred_tags_are_accepted() -> None:
    tags = [f"t{n}" for n in range(100)]
    assert parse_message(changed(MESSAGE, {"tags": tags})).tags == tuple(tags)


def test_duplicate_tags_are_dropped_keeping_first_order() -> None:
    raw = changed(MESSAGE, {"tags": ["b", "a", "b", "c", "a"]})
    assert parse_message(raw).tags == ("b", "a", "c")


def test_chat_tags_are_deduplicated_too() -> None:
    assert parse_chat(changed(CHAT, {"tags": ["x", "y", "x"]})).tags == ("x", "y")


# metadata


@pytest.mark.parametrize(
    ("metadata", "field", "problem"),
    [
        pytest.param("team=a", "metadata", "expected an object, got a string", id="string"),
        pytest.param([["team", "a"]], "metadata", "expected an object, got an array", id="array"),
        pytest.param(
            {"team": {"name": "a"}},
            "metadata.team",
            "expected a string, number or boolean, got an object",
            id="nested-object",
        ),
        pytest.param(
            {"team": ["a"]},
            "metadata.team",
            "expected a string, number or boolean, got an array",
            id="nested-array",
        ),
        pytest.param(
            {"team": None},
            "metadata.team",
            "expected a string, number or boolean, got null",
            id="null",
        ),
        pytest.param(
            {"ratio": float("nan")}, "metadata.ratio", "not a finite number: nan", id="nan"
        ),
        pytest.param(
            {"note": "x" * 1001}, "metadata.note", "longer than 1000 characters", id="long-value"
        ),
        pytest.param({"k" * 65: 1}, "metadata", "keys must be 1 to 64 characters", id="long-key"),
        pytest.param({"": 1}, "metadata", "keys must be 1 to 64 characters", id="empty-key"),
        pytest.param(
            {f"k{n}": n for n in range(51)}, "metadata", "at most 50 keys, got 51", id="too-many"
        ),
    ],
)
def test_invalid_metadata_is_rejected(metadata: object, field: str, problem: str) -> None:
    assert_rejected(changed(MESSAGE, {"metadata": metadata}), field, problem)


def test_metadata_of_fifty_keys_and_scalar_values_is_kept() -> None:
    metadata: dict[str, object] = {f"k{n}": n for n in range(47)}
    metadata.update({"team": "search", "beta": True, "ratio": 0.25})
    assert parse_message(changed(MESSAGE, {"metadata": metadata})).metadata == metadata


# content


@pytest.mark.parametrize(("value", "shown"), [(5, "5"), (["hi"], "an array"), (True, "true")])
def test_content_that_is_not_a_string_is_rejected(value: object, shown: str) -> None:
    assert_rejected(
        changed(MESSAGE, {"content": value}), "content", f"expected a string, got {shown}"
    )


@pytest.mark.parametrize(
    ("preview_chars", "expected"),
    [(5, "Hello"), (11, "Hello world"), (200, "Hello world"), (0, None)],
)
def test_content_keeps_a_preview_of_the_configured_length(
    preview_chars: int, expected: str | None
) -> None:
    options = ParseOptions(preview_chars=preview_chars, now=NOW)
    message = parse_message(changed(MESSAGE, {"content": "Hello world"}), options)
    assert message.content_preview == expected


def test_the_default_preview_is_200_characters() -> None:
    content = "".join(str(n % 10) for n in range(500))
    preview = parse_message(changed(MESSAGE, {"content": content})).content_preview
    assert preview == content[:200]


def test_empty_content_keeps_no_preview() -> None:
    assert parse_message(changed(MESSAGE, {"content": ""})).content_preview is None


# user


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("u-1", UserRef(id="u-1")),
        ({"id": "u-1"}, UserRef(id="u-1")),
        ({"id": "u-1", "name": "Ann"}, UserRef(id="u-1", name="Ann")),
        (
            {"id": "u-1", "name": "Ann", "email": "ann@example.com"},
            UserRef(id="u-1", name="Ann", email="ann@example.com"),
        ),
    ],
)
def test_a_user_is_a_string_id_or_an_object(user: object, expected: UserRef) -> None:
    assert parse_message(changed(MESSAGE, {"user": user})).user == expected
    assert parse_feedback(changed(FEEDBACK, {"user": user})).user == expected


def test_user_is_absent_unless_given() -> None:
    assert parse_message(MESSAGE).user is None


@pytest.mark.parametrize(
    ("user", "field", "problem"),
    [
        pytest.param({"name": "Ann"}, "user.id", "required", id="object-without-id"),
        pytest.param({"id": None}, "user.id", "required", id="null-id"),
        pytest.param({"id": " "}, "user.id", "must not be blank", id="blank-id"),
        pytest.param({"id": 7}, "user.id", "expected a string, got 7", id="number-id"),
        pytest.param(
            {"id": "u-1", "email": "ann"},
            "user.email",
            "not an email address: 'ann'",
            id="email-without-at",
        ),
        pytest.param(
            {"id": "u-1", "email": 5}, "user.email", "not an email address: 5", id="email-number"
        ),
        pytest.param(
            {"id": "u-1", "phone": "555"},
            "user.phone",
            "unknown field (a user has id, name and email)",
            id="unknown-field",
        ),
        pytest.param(
            {"id": "u-1", "name": "x" * 201},
            "user.name",
            "longer than 200 characters (201)",
            id="long-name",
        ),
        pytest.param("", "user", "must not be blank", id="empty-string"),
        pytest.param("x" * 201, "user", "longer than 200 characters", id="long-string"),
        pytest.param(
            42, "user", "expected an id string or {id, name, email}, got a number", id="number"
        ),
        pytest.param(
            ["u-1"], "user", "expected an id string or {id, name, email}, got an array", id="list"
        ),
    ],
)
def test_an_invalid_user_is_rejected(user: object, field: str, problem: str) -> None:
    assert_rejected(changed(MESSAGE, {"user": user}), field, problem)


# A complete message.


def test_a_message_with_every_field_is_parsed_exactly() -> None:
    raw = {
        "type": "message",
        "id": "msg-1",
        "timestamp": "2025-06-01T14:30:00+02:00",
        "app": "acme.prod",
        "role": "assistant",
        "chat_id": "chat-9",
        "user": {"id": "u-1", "name": "Ann", "email": "ann@example.com"},
        "model": "gpt-4o",
        "provider": "openai",
        "source": "api",
        "api_key": "gateway-key-7",
        "status": "error",
        "error_type": "rate_limit",
        "usage": {
            "input_tokens": 1000,
            "output_tokens": 200,
            "cache_read_tokens": 600,
            "cache_write_tokens": 100,
            "reasoning_tokens": 50,
            "total_tokens": 1200,
        },
        "cost": 0.01234567891234,
        "latency_ms": 1500,
        "ttft_ms": 250.5,
        "tags": ["feature:summarize", "User-Agent:claude-cli/1.0", "feature:summarize"],
        "metadata": {"team": "search", "tier": 2, "ratio": 0.5, "beta": True},
        "content": "Hello there",
    }
    message = parse_message(raw)
    assert message.id == "msg-1"
    assert message.timestamp == datetime(2025, 6, 1, 12, 30, tzinfo=UTC)
    assert message.timestamp.tzinfo is UTC
    assert message.app == "acme.prod"
    assert message.role == "assistant"
    assert message.chat_id == "chat-9"
    assert message.user == UserRef(id="u-1", name="Ann", email="ann@example.com")
    assert message.model == "gpt-4o"
    assert message.provider == "openai"
    assert message.source == "api"
    assert message.api_key == "gateway-key-7"
    assert message.status == "error"
    assert message.error_type == "rate_limit"
    assert message.usage == Usage(
        input=1000, output=200, cache_read=600, cache_write=100, reasoning=50
    )
    assert message.cost == Decimal("0.0123456789")
    assert isinstance(message.cost, Decimal)
    assert message.cost.as_tuple().exponent == -10
    assert message.latency_ms == 1500.0
    assert message.ttft_ms == 250.5
    assert message.tags == ("feature:summarize", "User-Agent:claude-cli/1.0")
    assert isinstance(message.tags, tuple)
    assert message.metadata == {"team": "search", "tier": 2, "ratio": 0.5, "beta": True}
    assert isinstance(message.metadata, dict)
    assert message.content_preview == "Hello there"


def test_a_minimal_message_gets_the_defaults() -> None:
    assert parse_message(MESSAGE) == Message(
        id="m-1", timestamp=datetime(2025, 6, 1, 10, tzinfo=UTC), model="gpt-4o"
    )


def test_empty_optional_strings_count_as_absent() -> None:
    raw = changed(MESSAGE, {"chat_id": "", "provider": "", "source": "", "error_type": ""})
    message = parse_message(raw)
    assert (message.chat_id, message.provider, message.source, message.error_type) == (
        None,
        None,
        None,
        None,
    )


# feedback


@pytest.mark.parametrize(("rating", "expected"), [(1, 1), (-1, -1), ("up", 1), ("down", -1)])
def test_feedback_ratings_accept_numbers_and_words(rating: object, expected: int) -> None:
    assert parse_feedback(changed(FEEDBACK, {"rating": rating})).rating == expected


@pytest.mark.parametrize(
    ("rating", "shown"),
    [
        (0, "0"),
        (2, "2"),
        (-2, "-2"),
        (True, "true"),
        (False, "false"),
        ("yes", "'yes'"),
        ("1", "'1'"),
        ("UP", "'UP'"),
        (0.5, "0.5"),
    ],
)
def test_feedback_rejects_other_ratings(rating: object, shown: str) -> None:
    assert_rejected(
        changed(FEEDBACK, {"rating": rating}),
        "rating",
        f"expected 1, -1, 'up' or 'down', got {shown}",
    )


@pytest.mark.parametrize(
    "rating", [pytest.param([1], id="array"), pytest.param({"value": 1}, id="object")]
)
def test_feedback_rating_that_is_an_array_or_object_is_a_record_error(rating: object) -> None:
    # A rating that is not hashable must be rejected like any other bad value, not crash.
    assert_rejected(
        changed(FEEDBACK, {"rating": rating}), "rating", "expected 1, -1, 'up' or 'down', got"
    )


@pytest.mark.parametrize("rating", [ABSENT, None])
def test_feedback_needs_a_rating(rating: object) -> None:
    assert_rejected(changed(FEEDBACK, {"rating": rating}), "rating", "required: 1 or -1")


@pytest.mark.parametrize("model", [ABSENT, None, ""])
def test_feedback_needs_a_model_without_a_message_id(model: object) -> None:
    assert_rejected(
        changed(FEEDBACK, {"model": model}),
        "model",
        "required unless message_id names a stored message",
    )


def test_feedback_with_a_message_id_may_leave_the_model_to_the_message() -> None:
    feedback = parse_feedback(changed(FEEDBACK, {"model": ABSENT, "message_id": "m-1"}))
    assert feedback.model is None
    assert feedback.message_id == "m-1"


def test_feedback_comment_has_a_length_limit() -> None:
    assert_rejected(
        changed(FEEDBACK, {"comment": "x" * 5001}), "comment", "longer than 5000 characters (5001)"
    )
    assert parse_feedback(changed(FEEDBACK, {"comment": "x" * 5000})).comment == "x" * 5000


def test_feedback_comment_must_be_a_string() -> None:
    assert_rejected(changed(FEEDBACK, {"comment": 3}), "comment", "expected a string, got 3")


def test_a_feedback_with_every_field_is_parsed_exactly() -> None:
    raw = {
        "type": "feedback",
        "id": "f-1",
        "timestamp": "2025-06-01T13:00:00+01:00",
        "app": "acme",
        "user": {"id": "u-1", "email": "ann@example.com"},
        "message_id": "m-1",
        "chat_id": "c-1",
        "model": "gpt-4o",
        "rating": "down",
        "comment": "wrong answer",
    }
    assert parse_feedback(raw) == Feedback(
        id="f-1",
        timestamp=datetime(2025, 6, 1, 12, tzinfo=UTC),
        model="gpt-4o",
        rating=-1,
        app="acme",
        user=UserRef(id="u-1", email="ann@example.com"),
        message_id="m-1",
        chat_id="c-1",
        comment="wrong answer",
    )


# chat


def test_chat_title_has_a_length_limit() -> None:
    assert_rejected(
        changed(CHAT, {"title": "x" * 501}), "title", "longer than 500 characters (501)"
    )
    assert parse_chat(changed(CHAT, {"title": "x" * 500})).title == "x" * 500


def test_chat_title_must_be_a_string() -> None:
    assert_rejected(changed(CHAT, {"title": ["a"]}), "title", "expected a string, got an array")


def test_a_chat_with_every_field_is_parsed_exactly() -> None:
    raw = {
        "type": "chat",
        "id": "c-1",
        "timestamp": 1_748_736_000_000,
        "app": "acme",
        "title": "Trip planning",
        "tags": ["travel", "beta", "travel"],
    }
    assert parse_chat(raw) == Chat(
        id="c-1",
        timestamp=datetime(2025, 6, 1, tzinfo=UTC),
        app="acme",
        title="Trip planning",
        tags=("travel", "beta"),
    )
