from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

from tests.serving import free_port, start_serve, wait_ready
from tests.test_schema import COMMITTED
from usageql.cli import main


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    monkeypatch.setenv("USAGEQL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("USAGEQL_LOG_LEVEL", "warning")
    return dict(os.environ)


def test_export_schema_prints_the_committed_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export-schema"]) == 0
    assert capsys.readouterr().out == COMMITTED.read_text(encoding="utf-8")


def test_export_schema_writes_a_file(tmp_path: Path) -> None:
    target = tmp_path / "schema.graphql"
    assert main(["export-schema", "--output", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == COMMITTED.read_text(encoding="utf-8")


def test_migrate_then_migrate_again(
    empty_database_url: str,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    assert main(["migrate"]) == 0
    assert "database migrated from revision none to" in capsys.readouterr().err
    assert main(["migrate"]) == 0
    assert "database is up to date" in capsys.readouterr().err


def test_demo_reports_what_it_stored_and_is_idempotent(
    database_url: str,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    args = ["demo", "--messages", "800", "--seed", "5", "--end", "2026-01-10T00:00:00Z"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "demo: messages 800/800 (100%" in err
    summary = re.search(
        r"demo: ingested ([\d,]+) records .*: ([\d,]+) stored, 0 already stored,"
        r" ([\d,]+) chat records applied",
        err,
    )
    assert summary is not None, err
    records, stored, chats = (int(number.replace(",", "")) for number in summary.groups())
    assert (stored + chats, chats > 0) == (records, True)
    assert main(args) == 0
    again = capsys.readouterr().err
    # Every message and rating is a duplicate; the chat records (upserts) are applied again.
    assert f": 0 stored, {stored:,} already stored, {chats:,} chat records applied" in again


def test_an_unreachable_database_is_one_clear_line(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres:hunter2@127.0.0.1:1/nothing")
    assert main(["migrate"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(
        "usageql: error: could not connect to and migrate the database at"
        " postgresql://postgres:***@127.0.0.1:1/nothing: "
    )
    assert "hunter2" not in err
    assert "Traceback" not in err


def test_bad_configuration_exits_2_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("USAGEQL_PORT", "eighty")
    with pytest.raises(SystemExit) as exited:
        main(["migrate"])
    assert exited.value.code == 2
    assert "USAGEQL_PORT: expected a whole number, got 'eighty'" in capsys.readouterr().err


@pytest.mark.slow
def test_commands_but_serve_log_only_warnings_unless_told(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("USAGEQL_LOG_LEVEL", raising=False)
    # On the embedded server, which logs its start and stop at info. (Not under pytest's
    # tmp_path: run as root, PostgreSQL runs as another user; see tests/test_embedded.py.)
    with tempfile.TemporaryDirectory(prefix="usageql-test-") as directory:
        monkeypatch.setenv("USAGEQL_DATA_DIR", directory)
        for command in (["keys", "list"], ["prices", "list"]):
            assert main(command) == 0
            err = capsys.readouterr().err
            assert err == "", command
        monkeypatch.setenv("USAGEQL_LOG_LEVEL", "info")
        assert main(["keys", "list"]) == 0
        told = capsys.readouterr().err.splitlines()
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d info +usageql.db.embedded: embedded postgresql started.*", told[0]
    )
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d info +usageql.db.embedded: embedded postgresql stopped.*", told[-1]
    )


def test_quick_commands_load_neither_graphql_the_web_server_nor_alembic(
    database_url: str, env: dict[str, str]
) -> None:
    # What made every command take a second or more before it did anything: loaded, not used.
    script = (
        "import sys; from usageql.cli import main;"
        " statuses = [main(['keys', 'list']), main(['prices', 'list'])];"
        " heavy = {'strawberry', 'graphql', 'starlette', 'uvicorn', 'alembic'};"
        " print(statuses, sorted(heavy & {name.split('.')[0] for name in sys.modules}))"
    )
    ran = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "DATABASE_URL": database_url},  # migrated, as a running server leaves it
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert ran.stdout.splitlines()[-1] == "[0, 0] []", ran.stderr


def test_bad_demo_options_exit_1_with_the_option_named(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--messages", "0"]) == 1
    assert "usageql: error: messages: must be between 1" in capsys.readouterr().err


@pytest.mark.slow
def test_serve_demo_loads_data_serves_it_and_stops_cleanly(
    database_url: str,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    arguments = ["--port", str(port), "--demo", "--demo-messages", "600", "--demo-days", "5"]
    process = start_serve(arguments, {**env, "DATABASE_URL": database_url})
    try:
        wait_ready(base, process, 60)
        query = {"query": "{ apps { id messages } }"}
        refused = httpx.post(f"{base}/graphql", json=query, timeout=10)
        assert refused.status_code == 401
        assert refused.json()["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
    finally:
        process.send_signal(signal.SIGINT)
        first, _ = process.communicate(timeout=30)
    assert re.search(r"demo: ingested [\d,]+ records .*, 0 already stored", first)
    keys = re.findall(r"API key: +(uq_[a-z0-9]{12}_[A-Za-z0-9_-]{43})$", first, re.MULTILINE)
    assert len(keys) == 1, first
    kept = Path(env["USAGEQL_DATA_DIR"]) / "demo-admin-key"
    assert f"(the demo admin key, kept in {kept} (mode 0600):\n" in first
    assert "made now; later starts show it again; no other demo key works)" in first
    assert kept.read_text() == f"{keys[0]}\n"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    # A second start shows the same key, which works, and makes no other.
    process = start_serve(arguments, {**env, "DATABASE_URL": database_url})
    try:
        wait_ready(base, process, 60)
        headers = {"authorization": f"Bearer {keys[0]}"}
        apps = httpx.post(f"{base}/graphql", json=query, headers=headers, timeout=10)
        assert sum(app["messages"] for app in apps.json()["data"]["apps"]) == 600
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "demo: the database already holds data; not adding more" in output
    assert f"API key:   {keys[0]}\n" in output
    assert f"(the demo admin key, kept in {kept} (mode 0600):\n" in output
    assert "from an earlier start; no other demo key works)" in output
    assert f"export USAGEQL_API_KEY={keys[0]}\n" in output
    assert f"GraphiQL:  {base}/graphql" in output
    assert """-H "Authorization: Bearer $USAGEQL_API_KEY" \\\n""" in output
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["keys", "list"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(key["key_id"], key["name"]) for key in listed] == [(keys[0][3:15], "demo")]
    # The key check (a read, and the write recording the key's first use) and the apps list (two
    # statements): four SQL statements, as the request log reports.
    graphql_lines = [line for line in output.splitlines() if "POST /graphql 200" in line]
    assert len(graphql_lines) == 1
    assert "sql_statements=4" in graphql_lines[0], graphql_lines
