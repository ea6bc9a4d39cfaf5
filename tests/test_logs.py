from __future__ import annotations

import json
import logging

import httpx
import pytest

from usageql.logs import JsonFormatter, TextFormatter


def _record(**extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord(
        {"name": "usageql.test", "levelname": "INFO", "msg": "hello %s", "args": ("world",)}
    )
    record.__dict__.update(extra)
    return record


def test_json_lines_carry_the_message_and_extras() -> None:
    line = JsonFormatter().format(_record(request_id="r1", duration_ms=1.5))
    entry = json.loads(line)
    assert entry["level"] == "info"
    assert entry["logger"] == "usageql.test"
    assert entry["msg"] == "hello world"
    assert entry["request_id"] == "r1"
    assert entry["duration_ms"] == 1.5
    assert entry["ts"].endswith("+00:00")


def test_text_lines_are_readable() -> None:
    line = TextFormatter().format(_record(status=200))
    assert line.endswith("info    usageql.test: hello world status=200")


async def test_client_error_log_lines_are_clipped(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    huge = "y" * 100_000
    query = f'{{ usage {{ models(limit: "{huge}") {{ model }} }} }}'
    with caplog.at_level(logging.INFO, logger="usageql.graphql.schema"):
        response = await client.post("/graphql", json={"query": query})
    (error,) = response.json()["errors"]
    assert huge in error["message"]  # the client is told what it sent
    (line,) = [r.getMessage() for r in caplog.records if r.name == "usageql.graphql.schema"]
    assert line.startswith("client error: Int cannot represent non-integer value: ")
    assert line.endswith(f"... ({len(error['message']):,} characters)")
    assert len(line) < 400


async def test_each_request_logs_the_tables_its_statements_read(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Whether an answer came from raw events or rollups is in the request's log line."""
    query = '{ usage(filter: {from: "2026-03-01T00:30:00Z"}) { summary { messages } } }'
    with caplog.at_level("INFO", logger="usageql.http"):
        response = await client.post("/graphql", json={"query": query})
    assert response.status_code == 200
    (line,) = [r for r in caplog.records if r.name == "usageql.http"]
    # Whole days from the daily rollup, the rest of the first day from the hourly one, the
    # partial hour at `from` from raw events (`apps`: each app an index range of its own).
    assert line.__dict__["tables"] == ["apps", "messages", "usage_daily_apps", "usage_hourly_apps"]
    assert line.__dict__["sql_statements"] == 1


def test_the_tables_of_long_statements_are_not_cached() -> None:
    """An `IN` list renders a placeholder per value, so each length of list is a statement of
    its own: the cache keeps short statements only, and a bounded number of them."""
    from usageql.db import engine as db_engine  # noqa: PLC0415 (the module's cache)

    placeholders = ", ".join(f"(${n}, ${n + 1})" for n in range(1, 4000, 2))
    long = f"SELECT 1 FROM chats WHERE (app_id, chat_id) IN ({placeholders})"  # noqa: S608
    assert len(long) > db_engine.CACHED_STATEMENT_CHARS
    db_engine._cached.cache_clear()
    assert db_engine._tables_in(long) == {"chats"}
    assert db_engine._cached.cache_info().currsize == 0
    short = "SELECT 1 FROM usage_hourly_apps JOIN apps ON true"
    assert db_engine._tables_in(short) == {"usage_hourly_apps", "apps"}
    assert db_engine._cached.cache_info().currsize == 1
