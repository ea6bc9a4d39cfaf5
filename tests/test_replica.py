"""DATABASE_READ_URL: queries read a replica; writes, migrations and key checks use the primary."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from tests.app_client import app_client
from tests.conftest import DatabaseFactory
from tests.sqlcount import count_statements
from usageql.config import Settings
from usageql.db.engine import create_engine
from usageql.db.tables import messages

QUERY = "{ usage { summary { messages } models { model } } }"


async def test_reads_go_to_the_replica_and_writes_to_the_primary(
    database_url: str, databases: DatabaseFactory, template_name: str, tmp_path: Path
) -> None:
    # A second database stands in for a replica; it stays empty, so each answer shows its source.
    replica_url = await databases.create(template=template_name)
    settings = Settings(
        database_url=database_url,
        database_read_url=replica_url,
        data_dir=tmp_path,
        auth_cache_seconds=3600,
    )
    async with app_client(settings) as client:
        event = {"id": "e1", "timestamp": "2026-03-01T10:00:00Z", "model": "gpt-4o"}
        assert (await client.post("/v1/events", json=[event])).json()["accepted"] == 1
        database = client._transport.app.state.database  # type: ignore[attr-defined]
        with (
            count_statements(database.engine) as primary,
            count_statements(database.read_engine) as replica,
        ):
            answer = (await client.post("/graphql", json={"query": QUERY})).json()
    assert answer["data"]["usage"] == {"summary": {"messages": 0}, "models": []}
    assert (primary.count, replica.count) == (0, 2)
    written = create_engine(database_url, pool_size=1)
    try:
        async with written.connect() as connection:
            stored = await connection.scalar(select(func.count()).select_from(messages))
    finally:
        await written.dispose()
    assert stored == 1


def test_the_read_url_is_validated_like_the_primary() -> None:
    settings = Settings.from_env({"DATABASE_READ_URL": "postgresql://replica/usage"})
    assert settings.database_read_url == "postgresql://replica/usage"
    assert Settings.from_env({}).database_read_url is None
