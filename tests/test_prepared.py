"""A statement the writer compiles once runs with each batch's values, and names the values a
run leaves out or adds."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import Text, literal, select
from sqlalchemy.dialects.postgresql import insert

from tests.factories import message
from tests.sqlcount import count_statements
from usageql.db.engine import create_engine
from usageql.db.tables import apps
from usageql.db.unnest import parameter, unnest_parameters
from usageql.ingest.prepared import Prepared
from usageql.ingest.rollup import HOURLY_STATEMENT, ROLLUPS_STATEMENT, rollup_values
from usageql.ingest.write import _message_row

sent = unnest_parameters("sent", app_id=Text()).subquery()
NEW_APPS = Prepared(
    insert(apps)
    .from_select(["app_id"], select(sent.c.app_id).where(sent.c.app_id != literal("skipped")))
    .on_conflict_do_nothing()
)


def test_a_run_gives_every_parameter_and_no_other() -> None:
    assert NEW_APPS.parameters == {parameter("sent", "app_id")}
    with pytest.raises(ValueError, match=r"missing: \['sent__app_id'\], unknown: \[\]"):
        NEW_APPS.arguments({})
    with pytest.raises(ValueError, match=r"missing: \[\], unknown: \['other'\]"):
        NEW_APPS.arguments({"sent__app_id": [], "other": 1})
    # the constant the statement was built with is bound too
    assert NEW_APPS.arguments({"sent__app_id": ["a"]}) == [["a"], "skipped"]


async def test_each_run_binds_its_own_values_in_the_callers_transaction(
    database_url: str,
) -> None:
    engine = create_engine(database_url, pool_size=1)
    try:
        with count_statements(engine) as sql:
            async with engine.begin() as connection:
                await NEW_APPS.run(connection, {"sent__app_id": ["a", "b", "skipped"]})
                await NEW_APPS.run(connection, {"sent__app_id": ["c"]})
            async with engine.connect() as connection:  # its first statement begins it
                await NEW_APPS.run(connection, {"sent__app_id": ["d"]})
                await connection.rollback()
        assert sql.count == 3
        async with engine.connect() as connection:
            stored = set((await connection.execute(select(apps.c.app_id))).scalars())
        assert stored == {"a", "b", "c"}
    finally:
        await engine.dispose()


def test_the_rollup_statements_take_what_rollup_values_gives() -> None:
    rows = [_message_row(replace(message(f"m{n}"), latency_ms=100.0 * n)) for n in range(3)]
    assert rollup_values(rows, late=False).keys() == HOURLY_STATEMENT.parameters
    values = rollup_values(rows)
    assert values.keys() == ROLLUPS_STATEMENT.parameters
    assert values[parameter("usage_hourly", "messages")] == [3]
    assert values[parameter("latency_sent", "latency")] == [1, 1, 1]  # 0, 100 and 200 ms
