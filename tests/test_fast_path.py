"""The msgspec fast path for NDJSON lines agrees with the Python rules of parse_record.

The fast path may decline any line (the caller then uses parse_record), but when it returns a
Message, parse_record must accept the same line and build an equal Message.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from usageql.demo.generate import DemoGenerator, DemoOptions
from usageql.ingest.parse import ParseOptions, RecordError, parse_message_line, parse_record
from usageql.ingest.records import Message

NOW = datetime(2026, 11, 2, tzinfo=UTC)
OPTIONS = ParseOptions(now=NOW, preview_chars=50)
ABSENT = object()

# Values to try in each field: valid ones, borderline ones and wrong ones.
VARIANTS: dict[str, list[Any]] = {
    "id": ["x", "", " ", "a" * 200, "a" * 201, 5, None, ["x"], "é✓", "nul\x00"],
    "timestamp": [
        "2026-10-01T10:00:00Z",
        "2026-10-01T10:00:00",
        "2026-10-01",
        "2026-13-01T00:00:00Z",
        1790000000,
        1790000000000,
        1790000000.5,
        0,
        -5,
        True,
        None,
        "1999-12-31T23:59:59Z",
        "2027-01-01T00:00:00+02:00",
        "2026-10-01T10:00:00.123456-07:00",
    ],
    "type": ["message", "feedback", "chat", None, "", 1],
    "app": ["shop", "", "*", "a b", "x" * 100, "x" * 101, "org/app@v1", 3, None],
    "role": ["user", "assistant", "system", "tool", "boss", "", None, 1],
    "chat_id": ["c", "", "c" * 200, "c" * 201, 7, None],
    "user": [
        "u",
        "",
        " ",
        1,
        None,
        ["u"],
        {"id": "u"},
        {"id": "u", "name": "N", "email": "n@x"},
        {"id": "u", "email": "no-at"},
        {"id": "u", "email": ""},
        {"id": ""},
        {"id": " "},
        {"name": "N"},
        {"id": "u", "age": 3},
        {"id": "u", "name": ""},
        {"id": "u", "name": 5},
        {"id": "u", "name": "n" * 201},
    ],
    "model": ["gpt-4o", "", None, 4, "m" * 201],
    "provider": ["openai", "", None, 1],
    "status": ["success", "error", "", "ok", None],
    "error_type": ["timeout", "", None, False],
    "usage": [
        None,
        {},
        {"input_tokens": 10, "output_tokens": 5},
        {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 16},
        {"input_tokens": 1, "output_tokens": 1, "cache_read_input_tokens": 9},
        {"input_tokens": -1},
        {"input_tokens": 1.5},
        {"input_tokens": 2.0},
        {"input_tokens": "3"},
        {"input_tokens": 1, "cache_read_tokens": 2},
        {"output_tokens": 1, "reasoning_tokens": 2},
        "lots",
        [1],
        {"prompt_tokens_details": 5, "prompt_tokens": 1},
        # bounds: each raw field and each normalised count at most 10^9
        {"input_tokens": 10**9, "output_tokens": 10**9, "total_tokens": 2 * 10**9},
        {"input_tokens": 10**9 + 1},
        {"prompt_tokens": 10**9, "prompt_tokens_details": {"cached_tokens": 10**9 + 1}},
        {"input_tokens": 6 * 10**8, "cache_read_input_tokens": 4 * 10**8},
        {"input_tokens": 6 * 10**8, "cache_read_input_tokens": 4 * 10**8 + 1},
        {"input_tokens": 2**63},
        # keys: usageql's shape knows all of its own; providers' pass extras through
        {"input_token": 10},
        {"input_tokens": 10, "zzz": 1},
        {"prompt_tokens": 10, "queue_time": 0.1},
        {"prompt_tokens": 10, "completion_token": 1},
        {"input_tokens": 1, "output_tokens": 2, "service_tier": "standard"},
    ],
    "cost": [0, 0.5, 1, -0.1, 1e8, 99999999.0, 100_000, 100_000.0001, "1", None, True],
    "latency_ms": [0, 10, 10.5, -1, "5", None, True, 604_800_000, 604_800_000.5, 1e308],
    "ttft_ms": [0, 5, 20, -1, None, 604_800_000, 604_800_001],
    "tags": [
        [],
        ["a"],
        ["a", "a", "b"],
        [""],
        ["t" * 200],
        ["t" * 201],
        [1],
        "a",
        None,
        [f"t{n}" for n in range(100)],
        [f"t{n}" for n in range(101)],
    ],
    "metadata": [
        {},
        {"k": "v"},
        {"k": 1, "f": 1.5, "b": True},
        {"k": None},
        {"k": [1]},
        {"k": {"a": 1}},
        {"": 1},
        {"k" * 64: 1},
        {"k" * 65: 1},
        {"k": "v" * 1000},
        {"k": "v" * 1001},
        {f"k{n}": n for n in range(50)},
        {f"k{n}": n for n in range(51)},
        {"n": 2**53, "m": -(2**53)},
        {"n": 2**53 + 1},
        {"n": -(2**53) - 1},
        {"n": 2**64},
        {"n": 1e300, "m": -1e300},
        "x",
        None,
    ],
    "content": ["hello", "", "x" * 60, 5, None, "a\x00b"],
    "unknown_field": [ABSENT, 1],
}


def _demo_messages() -> list[dict[str, Any]]:
    options = DemoOptions(messages=2000, days=30, users=80, seed=21, end=NOW)
    return [
        record
        for batch, _ in DemoGenerator(options).batches()
        for record in batch
        if "type" not in record
    ]


def _slow(line: bytes) -> Message | RecordError:
    try:
        record = parse_record(orjson.loads(line), OPTIONS)
    except RecordError as error:
        return error
    assert isinstance(record, Message)
    return record


def test_every_demo_message_takes_the_fast_path_to_the_same_result() -> None:
    messages = _demo_messages()
    assert len(messages) == 2000
    for record in messages:
        line = orjson.dumps(record)
        fast = parse_message_line(line, OPTIONS)
        assert fast is not None, record
        assert fast == _slow(line)


@pytest.mark.parametrize("seed", range(4))
def test_mutated_records_never_take_the_fast_path_to_a_different_answer(seed: int) -> None:
    rng = random.Random(seed)
    bases = _demo_messages()[:200]
    fields = list(VARIANTS)
    accepted_fast = declined = 0
    for _ in range(3000):
        record = dict(rng.choice(bases))
        for name in rng.sample(fields, rng.randint(1, 3)):
            value = rng.choice(VARIANTS[name])
            if value is ABSENT:
                record.pop(name, None)
            else:
                record[name] = value
        line = json.dumps(record).encode()  # orjson cannot write integers beyond 64 bits
        fast = parse_message_line(line, OPTIONS)
        slow = _slow(line)
        if fast is None:
            declined += 1
            continue
        accepted_fast += 1
        assert isinstance(slow, Message), (record, slow)
        assert fast == slow, record
    # Both outcomes happen often, so the comparison above is not vacuous.
    assert accepted_fast > 300
    assert declined > 300
