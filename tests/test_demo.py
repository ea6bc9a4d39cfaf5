from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from usageql.db.tables import feedback, messages
from usageql.demo.generate import DemoGenerator, DemoOptions
from usageql.demo.load import database_is_empty, load_demo
from usageql.ingest.parse import ParseOptions, Record, parse_record
from usageql.ingest.pipeline import Ingestor
from usageql.ingest.records import Chat, Feedback, Message

END = datetime(2026, 3, 30, tzinfo=UTC)  # spans the EU and US daylight-saving changes
OPTIONS = DemoOptions(messages=6000, days=60, apps=4, users=120, seed=7, end=END)


def _records(options: DemoOptions) -> list[Record]:
    parse = ParseOptions(now=END + timedelta(days=1))
    return [
        parse_record(raw, parse) for batch, _ in DemoGenerator(options).batches() for raw in batch
    ]


def _messages(options: DemoOptions) -> list[Message]:
    return [r for r in _records(options) if isinstance(r, Message)]


def test_the_same_seed_gives_the_same_records() -> None:
    assert _messages(OPTIONS) == _messages(OPTIONS)
    assert _messages(replace(OPTIONS, seed=8)) != _messages(OPTIONS)


def test_records_have_the_shape_of_real_traffic() -> None:
    records = _messages(OPTIONS)
    assert len(records) == OPTIONS.messages
    start = END - timedelta(days=OPTIONS.days)
    assert all(start <= m.timestamp < END + timedelta(minutes=5) for m in records)
    assert len({m.id for m in records}) == len(records)

    requests = [m for m in records if m.role == "assistant"]
    assert {m.role for m in records} == {"user", "assistant"}
    assert all(m.model and m.provider for m in requests)
    assert len({m.model for m in requests}) >= 20
    assert len({m.provider for m in requests}) >= 6
    assert len({m.app for m in records}) == 4
    assert len({m.user.id for m in records if m.user}) >= 100
    assert any(m.user is None for m in records)

    # Zipf-like popularity: the top model is used far more than the median one.
    per_model = sorted(Counter(m.model for m in requests).values(), reverse=True)
    assert per_model[0] > 4 * per_model[len(per_model) // 2]
    # Weekly seasonality: weekdays busier than weekends.
    per_weekday = Counter(m.timestamp.weekday() for m in records)
    assert min(per_weekday[d] for d in range(5)) > 1.5 * max(per_weekday[5], per_weekday[6])

    errors = [m for m in requests if m.status == "error"]
    assert 0.01 < len(errors) / len(requests) < 0.05
    assert all(m.error_type for m in errors)
    assert any(m.cost is None for m in requests)  # self-hosted models are unpriced
    assert any(m.usage.cache_read for m in requests)
    assert any(m.usage.reasoning for m in requests)
    assert all(m.usage.total == m.usage.input + m.usage.output for m in requests)
    assert all(any(t.startswith("User-Agent:") for t in m.tags) for m in records)
    assert all({"team", "environment", "feature"} <= m.metadata.keys() for m in records)


def test_requests_use_each_providers_usage_shape_and_ratings_name_their_message() -> None:
    batches = list(DemoGenerator(OPTIONS).batches())
    raw = [record for batch, _ in batches for record in batch]
    requests = [r for r in raw if r.get("role") == "assistant"]
    openai = next(r for r in requests if r["provider"] == "openai")
    anthropic = next(
        r for r in requests if r["provider"] == "anthropic" and r["status"] == "success"
    )
    assert "prompt_tokens" in openai["usage"]
    assert "cache_creation_input_tokens" in anthropic["usage"]
    assert all("cost" not in r for r in requests)  # priced at ingest
    records = _records(OPTIONS)
    ratings = [r for r in records if isinstance(r, Feedback)]
    chats = [r for r in records if isinstance(r, Chat)]
    assert ratings
    assert chats
    assert any(r.model is None for r in ratings)  # to be taken from the rated message
    assert {r.message_id for r in ratings} <= {m.id for m in _messages(OPTIONS)}


async def test_loading_ingests_everything_once(engine: AsyncEngine) -> None:
    assert await database_is_empty(engine)
    seen: list[tuple[int, int]] = []
    small = DemoOptions(messages=1500, days=10, apps=2, users=30, seed=3, end=END)
    ingestor = Ingestor(engine, ParseOptions(now=END))
    summary = await load_demo(ingestor, small, lambda done, total: seen.append((done, total)))
    records = _records(small)
    ratings = sum(isinstance(r, Feedback) for r in records)
    chats = sum(isinstance(r, Chat) for r in records)
    assert summary.records == len(records) == 1500 + ratings + chats
    stored = (summary.accepted, summary.duplicates, summary.described, summary.rejected)
    assert stored == (1500 + ratings, 0, chats, 0)
    assert seen[-1] == (1500, 1500)
    assert not await database_is_empty(engine)

    again = await load_demo(ingestor, small)
    # Messages and ratings are all duplicates; chat records (upserts) are applied again.
    assert (again.accepted, again.duplicates, again.described) == (0, 1500 + ratings, chats)
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(messages)) == 1500
        assert await connection.scalar(select(func.count()).select_from(feedback)) == ratings


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"messages": 0}, "messages: must be between 1"),
        ({"days": 0}, "days: must be between 1 and 3650"),
        ({"apps": 101}, "apps: must be between 1 and 100"),
        ({"users": 0}, "users: must be between 1"),
    ],
)
def test_options_out_of_range_are_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(DemoOptions(), **change).validate()


def test_more_apps_than_built_in_ones_get_numbered_names() -> None:
    records = _messages(DemoOptions(messages=3000, apps=6, users=60, seed=1, end=END))
    assert {m.app for m in records} >= {"support-bot-4", "code-assistant-5"}
