from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

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
    assert re.search(r"demo: ingested ([\d,]+) records .*: \1 stored, 0 already stored", err)
    assert main(args) == 0
    again = capsys.readouterr().err
    # Only the chat records (upserts) count as stored again; every message is a duplicate.
    assert re.search(r"demo: ingested [\d,]+ records .*: [\d,]+ stored, [\d,]+ already", again)
    assert ", 0 already stored" not in again


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


def test_bad_demo_options_exit_1_with_the_option_named(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--messages", "0"]) == 1
    assert "usageql: error: messages: must be between 1" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _start(command: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command,
        env={**env, "USAGEQL_LOG_LEVEL": "info"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_ready(base: str, process: subprocess.Popen[str], seconds: float) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"server exited with {process.returncode}"
        try:
            response = httpx.get(f"{base}/readyz", timeout=2)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"server not ready after {seconds}s")


@pytest.mark.slow
def test_serve_demo_loads_data_serves_it_and_stops_cleanly(
    database_url: str, env: dict[str, str]
) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "usageql", "serve", "--port", str(port), "--demo"]
    command += ["--demo-messages", "600", "--demo-days", "5"]
    process = _start(command, {**env, "DATABASE_URL": database_url})
    try:
        _wait_ready(base, process, 60)
        query = {"query": "{ apps { id messages } }"}
        refused = httpx.post(f"{base}/graphql", json=query, timeout=10)
        assert refused.status_code == 401
        assert refused.json()["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
    finally:
        process.send_signal(signal.SIGINT)
        first, _ = process.communicate(timeout=30)
    assert re.search(r"demo: ingested [\d,]+ records .*, 0 already stored", first)
    keys = re.findall(r"API key: +(uq_\S+)", first)
    assert len(keys) == 1, first
    # The printed key works: start again on the same data (no new demo data) and use it.
    process = _start(command, {**env, "DATABASE_URL": database_url})
    try:
        _wait_ready(base, process, 60)
        headers = {"authorization": f"Bearer {keys[0]}"}
        apps = httpx.post(f"{base}/graphql", json=query, headers=headers, timeout=10)
        assert sum(app["messages"] for app in apps.json()["data"]["apps"]) == 600
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "demo: the database already holds data; not adding more" in output
    assert f"GraphiQL:  {base}/graphql" in output
    assert "-H 'Authorization: Bearer uq_" in output
    # The key check (a read, and the write recording the key's first use) and the apps list (two
    # statements): four SQL statements, as the request log reports.
    graphql_lines = [line for line in output.splitlines() if "POST /graphql 200" in line]
    assert len(graphql_lines) == 1
    assert "sql_statements=4" in graphql_lines[0], graphql_lines
