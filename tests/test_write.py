from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.factories import T0, message
from usageql.db.tables import (
    chats,
    messages,
    usage_daily_user_sets,
    usage_hourly,
    user_numbers,
    users,
)
from usageql.ingest.records import Batch, Chat, Feedback, Usage
from usageql.ingest.refusal import Refusal
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


async def test_chat_records_of_one_batch_keep_each_its_own_tags(engine: AsyncEngine) -> None:
    # One statement stores a batch's chat records: every chat takes its slice of their tags.
    later = T0 + timedelta(minutes=1)
    batch = Batch(
        chats=[
            Chat(id="c1", timestamp=T0, title="first", tags=("a", "b")),
            Chat(id="c2", timestamp=T0, title="none"),
            Chat(id="c3", timestamp=T0, tags=("c",)),
            Chat(id="c1", timestamp=later, title="again", tags=("d", "e", "f")),
            Chat(id="c4", timestamp=T0, title="last", tags=("g", "h")),
        ]
    )
    assert (await store_batch(engine, batch)).chats == 5
    await store_batch(engine, Batch(chats=[Chat(id="c4", timestamp=later)]))  # no tags now
    async with engine.connect() as connection:
        rows = (
            await connection.execute(select(chats.c.chat_id, chats.c.title, chats.c.tags))
        ).all()
    assert sorted(tuple(row) for row in rows) == [
        ("c1", "again", ["d", "e", "f"]),
        ("c2", "none", []),
        ("c3", None, ["c"]),
        ("c4", "last", []),  # the later record's tags, its title kept (it has none)
    ]


async def test_a_refused_value_is_rejected_alone_with_the_column_it_names(
    engine: AsyncEngine,
) -> None:
    """Records reach the writer here unvalidated, and the database refuses some: a cost beyond
    numeric(20, 10), a message without a user once the column is NOT NULL, a rating against a
    CHECK added for the test. Each is refused alone; the rest of the batch is stored."""
    async with engine.begin() as connection:
        await connection.execute(text("ALTER TABLE messages ALTER COLUMN user_id SET NOT NULL"))
        await connection.execute(
            text("ALTER TABLE feedback ADD CONSTRAINT test_refuses CHECK (comment <> 'no')")
        )
    costly = message("costly", user="u1")
    costly.cost = Decimal(10**10)
    batch = Batch(
        messages=[message("m1", user="u1"), costly, message("anonymous"), message("m2", user="u2")],
        feedback=[
            Feedback(id="f1", timestamp=T0, model="gpt-4o", rating=1, comment="no"),
            Feedback(id="f2", timestamp=T0, model=None, rating=1, message_id="m2"),
        ],
    )
    written = await store_batch(engine, batch)
    check = 'the database refused this record: new row for relation "feedback" violates check'
    assert written.refused == (
        Refusal("message", 1, "cost", "the database refused this record: numeric field overflow"),
        Refusal("message", 2, "user", 'the database refused this record: null value in column'
                ' "user_id" of relation "messages" violates not-null constraint'),
        Refusal("feedback", 0, "", f'{check} constraint "test_refuses"'),
    )  # fmt: skip
    assert (written.messages, written.feedback) == (2, 1)  # f2 rates m2, stored in another part
    async with engine.connect() as connection:
        stored = (await connection.execute(select(messages.c.message_id))).scalars().all()
    assert sorted(stored) == ["m1", "m2"]


async def test_other_database_errors_still_fail_the_whole_batch(engine: AsyncEngine) -> None:
    """Only refusals of values (SQLSTATE classes 22 and 23) are isolated: an error raised by the
    database for any other reason is not the record's fault, and the batch fails unstored."""
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "CREATE FUNCTION test_fails() RETURNS trigger LANGUAGE plpgsql AS"
                " $$ BEGIN RAISE EXCEPTION 'not a refusal'; END $$"
            )
        )
        await connection.execute(
            text(
                "CREATE TRIGGER test_fails BEFORE INSERT ON feedback FOR EACH ROW"
                " EXECUTE FUNCTION test_fails()"
            )
        )
    batch = Batch(
        messages=[message("m1")],
        feedback=[Feedback(id="f1", timestamp=T0, model="gpt-4o", rating=1)],
    )
    with pytest.raises(DBAPIError, match="not a refusal"):
        await store_batch(engine, batch)
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(messages)) == 0


async def test_a_batch_with_a_new_user_does_not_wait_for_another_in_flight(
    engine: AsyncEngine,
) -> None:
    await store_batch(engine, Batch(messages=[message("m0", app="a", user="known")]))
    first = Batch(messages=[message("m1", app="a", user="new-user")])
    second = Batch(messages=[message("m2", app="b", user="new-user")])  # no rollup row shared
    async with engine.connect() as blocker:
        # Hold the first batch inside its transaction: its rollups wait for this row lock.
        await blocker.execute(
            select(usage_hourly).where(usage_hourly.c.app_id == "a").with_for_update()
        )
        in_flight = asyncio.create_task(store_batch(engine, first))
        await asyncio.sleep(0.5)
        assert not in_flight.done()
        stored = await asyncio.wait_for(store_batch(engine, second), timeout=10)
        assert stored.messages == 1
        await blocker.rollback()
    assert (await in_flight).messages == 1
    async with engine.connect() as connection:
        numbers = dict(
            (await connection.execute(select(user_numbers.c.user_id, user_numbers.c.number))).all()
        )
        day_sets = select(usage_daily_user_sets.c.app_id, usage_daily_user_sets.c.users)
        sets = {app: set(users) for app, users in await connection.execute(day_sets)}
    assert sets == {
        "a": {numbers["known"], numbers["new-user"]},
        "b": {numbers["new-user"]},
    }
