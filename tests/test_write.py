from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.factories import T0, message
from usageql.db.tables import chats, messages, users
from usageql.ingest.records import Batch, Chat, Feedback, Usage
from usageql.ingest.write import store_batch


async def test_a_batch_sent_twice_is_stored_once(engine: AsyncEngine) -> None:
    batch = Batch(
        messages=[
            message("m1", user="u1", chat="c1", usage=Usage(input=10, output=5)),
            message("m2", role="user", user="u1", chat="c1", minutes=1),
        ],
        feedback=[Feedback(id="f1", timestamp=T0, model="gpt-4o", rating=1, message_id="m1")],
    )
    first = await store_batch(engine, batch)
    second = await store_batch(engine, batch)
    assert (first.messages, first.feedback, first.duplicates) == (2, 1, 0)
    assert (second.messages, second.feedback, second.duplicates) == (0, 0, 3)
    async with engine.connect() as connection:
        stored = (await connection.execute(select(messages.c.message_id))).scalars().all()
    assert sorted(stored) == ["m1", "m2"]


async def test_the_same_id_in_two_apps_is_two_messages(engine: AsyncEngine) -> None:
    batch = Batch(messages=[message("m1", app="a"), message("m1", app="b")])
    result = await store_batch(engine, batch)
    assert result.messages == 2


async def test_user_profiles_keep_the_latest_values_whatever_the_arrival_order(
    engine: AsyncEngine,
) -> None:
    newer = message("m2", user="u1", minutes=10, name="Ada Lovelace")
    older = message("m1", user="u1", minutes=0, name="Ada", email="ada@example.com")
    for record in (newer, older):  # the newer one arrives first
        await store_batch(engine, Batch(messages=[record]))
    async with engine.connect() as connection:
        row = (await connection.execute(select(users))).one()
    assert row.name == "Ada Lovelace"  # the latest name wins
    assert row.email == "ada@example.com"  # an older value only fills a gap
    assert row.first_seen == T0
    assert row.last_seen == T0 + timedelta(minutes=10)


async def test_chats_take_times_from_messages_and_titles_from_chat_records(
    engine: AsyncEngine,
) -> None:
    batches = [
        Batch(chats=[Chat(id="c1", timestamp=T0 + timedelta(minutes=5), title="New", tags=("b",))]),
        Batch(messages=[message("m2", user="u2", chat="c1", minutes=7)]),
        Batch(chats=[Chat(id="c1", timestamp=T0, title="Old", tags=("a",))]),
        Batch(messages=[message("m1", role="user", user="u1", chat="c1", minutes=1)]),
    ]
    for batch in batches:
        await store_batch(engine, batch)
    async with engine.connect() as connection:
        row = (await connection.execute(select(chats))).one()
    assert (row.title, row.tags) == ("New", ["b"])
    assert row.created_at == T0 + timedelta(minutes=1)
    assert row.updated_at == T0 + timedelta(minutes=7)
    assert row.user_id == "u2"  # the first user seen for the chat stays its user
