from __future__ import annotations

from pathlib import Path

import psutil
import pytest
from sqlalchemy import text

from usageql.config import Settings
from usageql.db.database import open_database
from usageql.db.embedded import EmbeddedPostgres, EmbeddedPostgresError
from usageql.db.engine import create_engine
from usageql.db.migrate import head_revision


async def test_start_connect_and_stop(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "pg")
    url = server.start()
    pid = server.pid()
    assert pid is not None
    assert psutil.pid_exists(pid)
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT 40 + 2")) == 42
    finally:
        await engine.dispose()
    server.stop()
    assert not server.running
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    # The data stays for the next start.
    assert (tmp_path / "pg" / "PG_VERSION").exists()


async def test_open_database_without_url_runs_embedded_and_migrates(tmp_path: Path) -> None:
    settings = Settings(database_url=None, data_dir=tmp_path / "data", pool_size=2)
    async with open_database(settings, migrate=True) as database:
        assert database.embedded is not None
        assert database.embedded.pgdata == tmp_path / "data" / "postgres"
        state = await database.migration_state()
        assert state.current == head_revision()
        pid = database.embedded.pid()
    assert pid is not None
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_data_dir_that_cannot_be_created_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(EmbeddedPostgresError, match="could not start the embedded PostgreSQL"):
        EmbeddedPostgres(blocker / "pg").start()
