"""Query benchmark: the example dashboards' latency, SQL statements and throughput, next to the
raw-events plan, and how soon ingested events can be queried.

Builds N demo events into a fresh database through POST /v1/events and `usageql serve` (as
bench/ingest.py does), then, with the same server, runs every operation of examples/*.graphql
with the variables a dashboard sends (and each field of the overview's `usage` alone): p50 and
p95 latency over sequential requests, SQL statements per request (from the server's JSON request
log), requests/s from concurrent clients. It runs the same panels as plain SQL over the raw
events (one GROUP BY per panel, as the seed products do) on asyncpg, times how soon a new batch
of events is visible, and records the figures in bench/RESULTS.md.

    python bench/queries.py --events 1000000                   # the quick run
    python bench/queries.py --events 10000000 --keep-database  # the full run; keeps its data set
    python bench/queries.py --database URL --no-record         # again, on a kept data set

The server's log of the latest run stays in bench/work/queries-server.log. Each run adds its
freshness batches (5,000 events of new models) to the data set it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from graphql import FieldNode, OperationDefinitionNode, parse

from harness import (
    DEFAULT_SERVER,
    END,
    ROOT,
    WORK,
    Run,
    api_key,
    batches,
    create_database,
    database_facts,
    drop_database,
    events_file,
    free_port,
    post,
    request_bytes,
    sample_memory,
    send,
    start_server,
)
from results import machine, record_section
from usageql.auth import Role
from usageql.db.engine import asyncpg_url

EXAMPLES = ROOT / "examples"
OVERVIEW = "Overview"
APPROXIMATE = "(approximate: true)"  # opt-in approximate percentiles, as examples/ may ask them
EXACT = "(all exact)"
WARMUP = 2
INGEST_BATCH = 5000
INGEST_CLIENTS = 4
FRESH_EVENTS = 1000
FRESH_ROUNDS = 5
FRESH_APP = "bench-freshness"
FRESH_TIMEOUT = 60.0
# JSON request logs give the statements per request. No statement timeout and a pool of 40, so
# that 8 clients at once, each request running up to 9 statements at a time, are measured on a
# large data set rather than cancelled (the defaults: 30 s, and 10 connections plus 10 more, which
# a request waits 30 s for).
SERVER_ENV = {
    "USAGEQL_LOG_FORMAT": "json",
    "USAGEQL_LOG_LEVEL": "info",
    "USAGEQL_STATEMENT_TIMEOUT_MS": "0",
    "USAGEQL_DB_POOL_SIZE": "40",
    "USAGEQL_COMPACT_SECONDS": "0",  # build() adds the days once they are all sent
}
MIB = 2**20

# A dashboard opened at "now" = END less 17 min 23 s, showing the last 30 days.
FROM = END - timedelta(days=30, minutes=17, seconds=23)
TIMEZONE = "Europe/Berlin"
PAGE = 25  # users per page of the LiteLLM users list
USER_AGENT = "User-Agent:"

TOP = """query Top($from: DateTime!, $to: DateTime!) {
  usage(filter: {from: $from, to: $to}) { models(limit: 1) { model } apps(limit: 1) { app } }
}"""
FRESH = """query Fresh($models: [String!]) {
  usage(filter: {models: $models}) { summary { messages } }
}"""


@dataclass(frozen=True, slots=True)
class Panel:
    """One dashboard panel as the seed systems compute it: one statement over raw rows.

    `params` name the values bound as $1, $2...; `keeps` names columns of the answer that later
    panels bind (the top models whose series follow, say), as an application would pass them."""

    sql: str
    params: tuple[str, ...]
    keeps: tuple[tuple[str, int], ...] = ()


# ---- The raw-events plan of each example: plain SQL, bound parameters only. ----

OVERVIEW_SUMMARY = Panel(
    """SELECT count(*) AS messages, count(DISTINCT user_id) AS users,
      count(DISTINCT chat_id) AS chats, coalesce(sum(cost), 0) AS spend,
      count(*) FILTER (WHERE role = 'assistant' AND cost IS NULL) AS unpriced_requests,
      coalesce(sum(input_tokens), 0) AS input_tokens,
      coalesce(sum(output_tokens), 0) AS output_tokens,
      coalesce(sum(input_tokens + output_tokens), 0) AS total_tokens
    FROM messages WHERE ts >= $1""",
    ("from",),
)
OVERVIEW_DAILY = Panel(
    """SELECT date_trunc('day', ts AT TIME ZONE $2::text) AS day, count(*) AS messages
    FROM messages WHERE ts >= $1 GROUP BY day ORDER BY day""",
    ("from", "tz"),
)
OVERVIEW_MODELS = Panel(
    """SELECT model, max(provider) AS provider,
      count(*) FILTER (WHERE role = 'assistant') AS requests, coalesce(sum(cost), 0) AS spend,
      percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS latency_p50,
      percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS latency_p95
    FROM messages WHERE ts >= $1 AND model IS NOT NULL
    GROUP BY model ORDER BY count(*) DESC, model LIMIT 10""",
    ("from",),
    keeps=(("models", 0),),
)
OVERVIEW_MODEL_DAILY = Panel(
    """SELECT model, date_trunc('day', ts AT TIME ZONE $2::text) AS day,
      count(*) FILTER (WHERE role = 'assistant') AS requests
    FROM messages WHERE ts >= $1 AND model = ANY($3::text[])
    GROUP BY model, day ORDER BY model, day""",
    ("from", "tz", "models"),
)
OVERVIEW_USERS = Panel(
    """SELECT top.user_id, u.name, u.email, top.messages, top.total_tokens, top.total_count
    FROM (SELECT user_id, count(*) AS messages,
            coalesce(sum(input_tokens + output_tokens), 0) AS total_tokens,
            count(*) OVER () AS total_count
          FROM messages WHERE ts >= $1 AND user_id IS NOT NULL
          GROUP BY user_id ORDER BY messages DESC, user_id LIMIT 20) AS top
    LEFT JOIN users AS u ON u.user_id = top.user_id
    ORDER BY top.messages DESC, top.user_id""",
    ("from",),
)
OVERVIEW_TAGS = Panel(
    """SELECT tag, count(*) FILTER (WHERE role = 'assistant') AS requests
    FROM messages, unnest(tags) AS tag WHERE ts >= $1 AND tag ILIKE $2
    GROUP BY tag ORDER BY requests DESC, tag LIMIT 250""",
    ("from", "pattern"),
    keeps=(("tags", 0),),
)
OVERVIEW_TAG_WEEKLY = Panel(
    """SELECT tag, date_trunc('week', ts AT TIME ZONE $2::text) AS week,
      count(DISTINCT user_id) AS users
    FROM messages, unnest(tags) AS tag WHERE ts >= $1 AND tag = ANY($3::text[])
    GROUP BY tag, week ORDER BY tag, week""",
    ("from", "tz", "tags"),
)

ADMIN_SUMMARY = Panel(
    """SELECT count(*) AS messages, count(DISTINCT chat_id) AS chats,
      count(DISTINCT model) AS models, count(DISTINCT user_id) AS users,
      coalesce(sum(input_tokens), 0) AS input_tokens,
      coalesce(sum(output_tokens), 0) AS output_tokens,
      coalesce(sum(input_tokens + output_tokens), 0) AS total_tokens
    FROM messages WHERE ts >= $1 AND ts < $2""",
    ("from", "to"),
)
ADMIN_MODELS = Panel(
    """SELECT model, count(*) AS messages, coalesce(sum(input_tokens), 0) AS input_tokens,
      coalesce(sum(output_tokens), 0) AS output_tokens,
      coalesce(sum(input_tokens + output_tokens), 0) AS total_tokens
    FROM messages WHERE ts >= $1 AND ts < $2 AND model IS NOT NULL
    GROUP BY model ORDER BY messages DESC, model LIMIT 50""",
    ("from", "to"),
    keeps=(("models", 0),),
)
ADMIN_MODEL_DAILY = Panel(
    """SELECT model, date_trunc('day', ts AT TIME ZONE $3::text) AS day, count(*) AS messages
    FROM messages WHERE ts >= $1 AND ts < $2 AND model = ANY($4::text[])
    GROUP BY model, day ORDER BY model, day""",
    ("from", "to", "tz", "models"),
)
ADMIN_USERS = Panel(
    """SELECT top.user_id, u.name, u.email, top.messages, top.input_tokens, top.output_tokens,
      top.total_tokens
    FROM (SELECT user_id, count(*) AS messages, coalesce(sum(input_tokens), 0) AS input_tokens,
            coalesce(sum(output_tokens), 0) AS output_tokens,
            coalesce(sum(input_tokens + output_tokens), 0) AS total_tokens
          FROM messages WHERE ts >= $1 AND ts < $2 AND user_id IS NOT NULL
          GROUP BY user_id ORDER BY messages DESC, user_id LIMIT 50) AS top
    LEFT JOIN users AS u ON u.user_id = top.user_id
    ORDER BY top.messages DESC, top.user_id""",
    ("from", "to"),
)
ADMIN_FEEDBACK = Panel(
    """SELECT date_trunc('day', ts AT TIME ZONE $3::text) AS day,
      count(*) FILTER (WHERE rating = 1) AS positive,
      count(*) FILTER (WHERE rating = -1) AS negative
    FROM feedback WHERE ts >= $1 AND ts < $2 AND model = $4 GROUP BY day ORDER BY day""",
    ("from", "to", "tz", "model"),
)
ADMIN_CHAT_TAGS = Panel(
    """SELECT tag, count(*) AS chats
    FROM (SELECT DISTINCT app_id, chat_id FROM messages
          WHERE ts >= $1 AND ts < $2 AND model = $3 AND chat_id IS NOT NULL) AS used
    JOIN chats AS c USING (app_id, chat_id) CROSS JOIN LATERAL unnest(c.tags) AS tag
    GROUP BY tag ORDER BY chats DESC, tag LIMIT 10""",
    ("from", "to", "model"),
)
ADMIN_CHATS = Panel(
    """SELECT c.app_id, c.chat_id, c.title, c.updated_at, c.user_id, u.name,
      count(*) OVER () AS total_count
    FROM (SELECT DISTINCT app_id, chat_id FROM messages
          WHERE ts >= $1 AND ts < $2 AND model = $3 AND chat_id IS NOT NULL) AS used
    JOIN chats AS c USING (app_id, chat_id)
    LEFT JOIN users AS u ON u.app_id = c.app_id AND u.user_id = c.user_id
    ORDER BY c.updated_at DESC NULLS LAST, c.app_id, c.chat_id LIMIT 20""",
    ("from", "to", "model"),
    keeps=(("chat_apps", 0), ("chat_ids", 1)),
)
ADMIN_FIRST_MESSAGES = Panel(
    """SELECT DISTINCT ON (app_id, chat_id) app_id, chat_id, left(content_preview, 200)
    FROM messages
    WHERE (app_id, chat_id) IN (SELECT * FROM unnest($1::text[], $2::text[])) AND role = 'user'
    ORDER BY app_id, chat_id, ts, message_id""",
    ("chat_apps", "chat_ids"),
)

CHIPP_SUMMARY = Panel(
    """SELECT count(DISTINCT chat_id) AS chats, count(DISTINCT user_id) AS users,
      count(*) AS messages, count(*) FILTER (WHERE role = 'assistant') AS requests,
      coalesce(sum(input_tokens), 0) AS input_tokens,
      coalesce(sum(output_tokens), 0) AS output_tokens,
      coalesce(sum(input_tokens + output_tokens), 0) AS total_tokens
    FROM messages WHERE app_id = $1 AND ts >= $2 AND ts < $3""",
    ("app", "from", "to"),
)
CHIPP_SERIES = Panel(
    """SELECT date_trunc($4::text, ts AT TIME ZONE $5::text) AS period,
      count(DISTINCT chat_id) AS chats, count(*) AS messages
    FROM messages WHERE app_id = $1 AND ts >= $2 AND ts < $3
    GROUP BY period ORDER BY period""",
    ("app", "from", "to", "granularity", "tz"),
)
CHIPP_MODELS = Panel(
    """SELECT model, count(*) FILTER (WHERE role = 'assistant') AS requests,
      coalesce(sum(input_tokens), 0) AS input_tokens,
      coalesce(sum(output_tokens), 0) AS output_tokens,
      coalesce(sum(input_tokens + output_tokens), 0) AS total_tokens
    FROM messages WHERE app_id = $1 AND ts >= $2 AND ts < $3 AND model IS NOT NULL
    GROUP BY model ORDER BY count(*) DESC, model LIMIT 50""",
    ("app", "from", "to"),
)

TAGS_ALL = Panel(
    """SELECT tag, count(*) FILTER (WHERE role = 'assistant') AS requests
    FROM messages, unnest(tags) AS tag WHERE ts >= $1 AND ts < $2
    GROUP BY tag ORDER BY requests DESC, tag LIMIT 250""",
    ("from", "to"),
)
TAGS_MATCHING = Panel(
    """SELECT tag, count(DISTINCT user_id) AS users,
      count(*) FILTER (WHERE role = 'assistant') AS requests,
      count(*) FILTER (WHERE role = 'assistant' AND status = 'success') AS successful_requests,
      count(*) FILTER (WHERE role = 'assistant' AND status = 'error') AS failed_requests,
      coalesce(sum(input_tokens + output_tokens), 0) AS total_tokens,
      coalesce(sum(cost), 0) AS spend
    FROM messages, unnest(tags) AS tag WHERE ts >= $1 AND ts < $2 AND tag ILIKE $3
    GROUP BY tag ORDER BY requests DESC, tag LIMIT 250""",
    ("from", "to", "pattern"),
    keeps=(("tags", 0),),
)
# Distinct users per tag and day, week or month: the unit ($5) is bound too.
TAGS_ACTIVE = tuple(
    Panel(
        """SELECT tag, date_trunc($5::text, ts AT TIME ZONE $3::text) AS period,
          count(DISTINCT user_id) AS users
        FROM messages, unnest(tags) AS tag WHERE ts >= $1 AND ts < $2 AND tag = ANY($4::text[])
        GROUP BY tag, period ORDER BY tag, period""",
        ("from", "to", "tz", "tags", unit),
    )
    for unit in ("day", "week", "month")
)

USERS_PAGE = Panel(
    """SELECT top.user_id, u.email, top.successful_requests, top.failed_requests, top.requests,
      top.total_tokens, top.spend, top.total_count
    FROM (SELECT user_id,
            count(*) FILTER (WHERE role = 'assistant' AND status = 'success')
              AS successful_requests,
            count(*) FILTER (WHERE role = 'assistant' AND status = 'error') AS failed_requests,
            count(*) FILTER (WHERE role = 'assistant') AS requests,
            coalesce(sum(input_tokens + output_tokens), 0) AS total_tokens,
            coalesce(sum(cost), 0) AS spend, count(*) OVER () AS total_count
          FROM messages WHERE user_id IS NOT NULL
          GROUP BY user_id ORDER BY successful_requests DESC, user_id LIMIT $1) AS top
    LEFT JOIN users AS u ON u.user_id = top.user_id
    ORDER BY top.successful_requests DESC, top.user_id""",
    ("first",),
    keeps=(("users", 0),),
)
USERS_AGENT = Panel(
    """SELECT DISTINCT ON (user_id) user_id, tag
    FROM (SELECT user_id, tag, count(*) FILTER (WHERE role = 'assistant') AS requests
          FROM messages, unnest(tags) AS tag
          WHERE user_id = ANY($1::text[]) AND tag ILIKE $2
          GROUP BY user_id, tag) AS per_tag
    ORDER BY user_id, requests DESC, tag""",
    ("users", "pattern"),
)

# Each field of the overview alone is named `Overview: <field>`.
OVERVIEW_FIELDS: dict[str, tuple[Panel, ...]] = {
    "summary": (OVERVIEW_SUMMARY,),
    "timeseries": (OVERVIEW_DAILY,),
    "models": (OVERVIEW_MODELS, OVERVIEW_MODEL_DAILY),
    "users": (OVERVIEW_USERS,),
    "tags": (OVERVIEW_TAGS, OVERVIEW_TAG_WEEKLY),
}
RAW_PLANS: dict[str, tuple[Panel, ...]] = {
    OVERVIEW: tuple(panel for panels in OVERVIEW_FIELDS.values() for panel in panels),
    **{f"{OVERVIEW}: {name}": panels for name, panels in OVERVIEW_FIELDS.items()},
    "OpenWebUIAdmin": (
        ADMIN_SUMMARY, ADMIN_MODELS, ADMIN_MODEL_DAILY, ADMIN_USERS, ADMIN_FEEDBACK,
        ADMIN_CHAT_TAGS, ADMIN_CHATS, ADMIN_FIRST_MESSAGES,
    ),
    "ChippUsage": (CHIPP_SUMMARY, CHIPP_SERIES, CHIPP_MODELS),
    "LiteLLMTags": (TAGS_ALL, TAGS_MATCHING, *TAGS_ACTIVE),
    "LiteLLMUsers": (USERS_PAGE, USERS_AGENT),
}  # fmt: skip


# ---- The operations, and the variables a dashboard sends them. ----


@dataclass(frozen=True, slots=True)
class Dashboard:
    """What the dashboards ask about: a period, a time zone, the top model and app."""

    app: str
    model: str

    def variables(self, declared: Sequence[str], label: str) -> dict[str, Any]:
        """The GraphQL variables an operation declares, as a dashboard fills them in."""
        pool: dict[str, Any] = {
            "from": FROM.isoformat(),
            "to": END.isoformat(),
            "timezone": TIMEZONE,
            "app": self.app,
            "model": self.model,
            "granularity": "DAY",
            "tagContains": USER_AGENT,
            "first": PAGE,
            "after": None,
        }
        missing = [name for name in declared if name not in pool]
        if missing:
            raise SystemExit(f"bench: no value for {missing} of {label}; add one to Dashboard")
        return {name: pool[name] for name in declared}

    def bound(self, variables: dict[str, Any]) -> dict[str, Any]:
        """The values the raw-events plan binds, for the same question."""
        return {
            "from": FROM,
            "to": END,
            "tz": variables.get("timezone", "UTC"),  # GraphQL's default zone
            "app": self.app,
            "model": self.model,
            "granularity": str(variables.get("granularity", "DAY")).lower(),
            "pattern": "%" + re.sub(r"([\\%_])", r"\\\1", USER_AGENT) + "%",
            "first": PAGE,
            **{unit: unit for unit in ("day", "week", "month")},  # date_trunc's units, bound too
        }


@dataclass(frozen=True, slots=True)
class Operation:
    """One GraphQL operation to measure, and its raw-events plan."""

    label: str
    document: str
    name: str
    variables: dict[str, Any]
    panels: tuple[Panel, ...]


def operations(dashboard: Dashboard) -> list[Operation]:
    """Every operation of examples/*.graphql, the overview first and each of its fields next."""
    found: list[Operation] = []
    for path in sorted(EXAMPLES.glob("*.graphql")):
        source = path.read_text()
        for node in parse(source).definitions:
            if isinstance(node, OperationDefinitionNode) and node.name is not None:
                found.extend(_operation_and_parts(source, node, dashboard))
    return sorted(found, key=lambda op: op.name != OVERVIEW)  # stable: files in name order


def _operation_and_parts(
    source: str, node: OperationDefinitionNode, dashboard: Dashboard
) -> list[Operation]:
    assert node.name is not None
    name = node.name.value
    declared = [item.variable.name.value for item in node.variable_definitions or ()]
    variables = dashboard.variables(declared, name)
    whole = Operation(name, source, name, variables, RAW_PLANS.get(name, ()))
    if name != OVERVIEW:
        return [whole]
    exact = []
    if APPROXIMATE in source:  # RESULTS.md records the all-exact overview beside the example
        document = source.replace(APPROXIMATE, "")
        exact = [Operation(f"{name} {EXACT}", document, name, variables, whole.panels)]
    parts = [
        Operation(label, document, name, variables, RAW_PLANS.get(label, ()))
        for label, document in _usage_fields(source, node)
    ]
    return [whole, *exact, *parts]


def _usage_fields(source: str, node: OperationDefinitionNode) -> list[tuple[str, str]]:
    """The operation once per field of its `usage { ... }`, with only that field selected."""
    usage = node.selection_set.selections[0]
    assert isinstance(usage, FieldNode)
    assert usage.selection_set is not None
    fields = [f for f in usage.selection_set.selections if isinstance(f, FieldNode)]
    first, last = fields[0].loc, fields[-1].loc
    assert first is not None
    assert last is not None
    parts = []
    for selected in fields:
        assert selected.loc is not None
        text = source[selected.loc.start : selected.loc.end]
        document = source[: first.start] + text + source[last.end :]
        parts.append((f"{OVERVIEW}: {selected.name.value}", document))
    return parts


# ---- Measuring. ----


@dataclass
class Figures:
    """What was measured of one operation (seconds)."""

    label: str
    latencies: list[float]
    statements: list[int]
    rate: float
    raw: list[float] = field(default_factory=list)
    raw_statements: int = 0
    tables: set[str] = field(default_factory=set)  # what answered it (from the server's log)

    @property
    def dashboard(self) -> bool:
        """A whole example operation as examples/ asks it (not a part, not the exact variant)."""
        return ": " not in self.label and EXACT not in self.label

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies)

    @property
    def p95(self) -> float:
        return percentile(self.latencies, 0.95)


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


@dataclass
class Server:
    """The server under test: where it listens, its keys, its log."""

    port: int
    pid: int
    admin: str
    ingest: str
    log: Path


def graphql_request(
    server: Server, document: str, name: str, variables: dict[str, Any], request_id: str | None
) -> bytes:
    body = orjson.dumps({"query": document, "operationName": name, "variables": variables})
    return request_bytes(
        body,
        server.port,
        False,
        server.admin,
        path="/graphql",
        content_type="application/json",
        request_id=request_id,
    )


def answer(status: int, body: bytes, label: str) -> dict[str, Any]:
    """The data of a response, which must be a 200 without errors."""
    if status != 200:
        raise SystemExit(f"bench: {label}: HTTP {status} {body[:500]!r}")
    reply = orjson.loads(body)
    if reply.get("errors") or not isinstance(reply.get("data"), dict):
        raise SystemExit(f"bench: {label}: {orjson.dumps(reply.get('errors'))[:1000]!r}")
    data: dict[str, Any] = reply["data"]
    return data


async def ask(server: Server, document: str, name: str, variables: dict[str, Any]) -> Any:
    request = graphql_request(server, document, name, variables, None)
    return answer(*await post(server.port, request), name)


async def sequential(server: Server, op: Operation, runs: int) -> tuple[list[float], list[str]]:
    """Latencies of `runs` requests one after another (after warm-ups), and their request ids."""
    latencies, ids = [], []
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    for run in range(WARMUP + runs):
        request_id = f"{prefix}-{run}"
        request = graphql_request(server, op.document, op.name, op.variables, request_id)
        began = time.perf_counter()
        status, body = await post(server.port, request)
        elapsed = time.perf_counter() - began
        answer(status, body, op.label)
        if run >= WARMUP:
            latencies.append(elapsed)
            ids.append(request_id)
    return latencies, ids


async def statements(log: Path, offset: int, ids: Sequence[str]) -> tuple[list[int], set[str]]:
    """SQL statements of each request, and the tables they read (raw events, which rollups),
    from the server's JSON request log (past `offset`)."""
    wanted = set(ids)
    found: dict[str, int] = {}
    tables: set[str] = set()
    deadline = time.monotonic() + 10
    while len(found) < len(wanted) and time.monotonic() < deadline:
        with log.open("rb") as source:
            source.seek(offset)
            for line in source:
                if line.startswith(b"{") and b'"sql_statements"' in line:
                    entry = orjson.loads(line)
                    if entry.get("request_id") in wanted:
                        found[entry["request_id"]] = int(entry["sql_statements"])
                        tables.update(entry.get("tables", ()))
        if len(found) < len(wanted):
            await asyncio.sleep(0.1)  # the server logs a request just after answering it
    if len(found) < len(wanted):
        raise SystemExit(f"bench: {len(wanted) - len(found)} requests are not in {log}")
    return [found[request_id] for request_id in ids], tables


async def throughput(server: Server, op: Operation, clients: int, seconds: float) -> float:
    """Requests per second from `clients` concurrent clients for about `seconds`."""
    request = graphql_request(server, op.document, op.name, op.variables, None)
    done = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def client() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            answer(*await post(server.port, request), op.label)
            done += 1

    await asyncio.gather(*(client() for _ in range(clients)))
    return done / (time.perf_counter() - started)


async def run_panels(connection: Any, panels: Sequence[Panel], bound: dict[str, Any]) -> list[Any]:
    """One request of the raw-events plan: its panels' statements, one after another."""
    values = dict(bound)
    answers = []
    for panel in panels:
        rows = await connection.fetch(panel.sql, *(values[name] for name in panel.params))
        for name, column in panel.keeps:
            values[name] = [row[column] for row in rows]
        answers.append(rows)
    return answers


async def raw_plan(dsn: str, op: Operation, bound: dict[str, Any], runs: int) -> list[float]:
    """Latencies of the raw-events plan on its own asyncpg connection (after warm-ups)."""
    connection = await asyncpg.connect(dsn)
    latencies = []
    try:
        for run in range(WARMUP + runs):
            began = time.perf_counter()
            await run_panels(connection, op.panels, bound)
            if run >= WARMUP:
                latencies.append(time.perf_counter() - began)
    finally:
        await connection.close()
    return latencies


async def disagreements(server: Server, dsn: str, op: Operation, bound: dict[str, Any]) -> str:
    """Where the raw plan's totals differ from the API's summary (empty when they agree)."""
    data = await ask(server, op.document, op.name, op.variables)
    summary = data.get("usage", {}).get("summary")
    if not op.panels or not isinstance(summary, dict):
        return ""
    connection = await asyncpg.connect(dsn)
    try:
        totals = dict((await run_panels(connection, op.panels[:1], bound))[0][0])
    finally:
        await connection.close()
    differ = [
        f"{name} {value} vs raw {totals[name]}"
        for name, value in _flat(summary).items()
        if name in totals and not math.isclose(float(value), float(totals[name]), rel_tol=1e-9)
    ]
    return "; ".join(differ)


def _flat(summary: dict[str, Any]) -> dict[str, Any]:
    """{"unpricedRequests": 1, "tokens": {"input": 2}} as {"unpriced_requests": 1,
    "input_tokens": 2}: the raw plan's column names."""
    flat: dict[str, Any] = {}
    for name, value in summary.items():
        snake = re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()
        if isinstance(value, dict):
            flat.update({f"{part}_{snake}": number for part, number in value.items()})
        else:
            flat[snake] = value
    return flat


async def measure(
    server: Server, dsn: str, op: Operation, bound: dict[str, Any], args: argparse.Namespace
) -> Figures:
    offset = server.log.stat().st_size
    latencies, ids = await sequential(server, op, args.runs)
    counts, tables = await statements(server.log, offset, ids)
    rate = await throughput(server, op, args.clients, args.seconds)
    figures = Figures(op.label, latencies, counts, rate, raw_statements=len(op.panels))
    figures.tables = tables
    if op.panels:
        figures.raw = await raw_plan(dsn, op, bound, args.raw_runs or args.runs)
    print(f"bench:   {summary_line(figures)}", file=sys.stderr)
    return figures


def summary_line(f: Figures) -> str:
    line = (
        f"p50 {ms(f.p50)}, p95 {ms(f.p95)}, {statement_range(f.statements)} statements,"
        f" {f.rate:,.1f} req/s"
    )
    if f.raw:
        line += f"; raw p50 {ms(statistics.median(f.raw))} ({ratio(f.raw, f.latencies)})"
    return line


def fresh_events(model: str) -> bytes:
    """FRESH_EVENTS requests of a model nobody used, in the data set's last hour."""
    first = END - timedelta(hours=1)
    lines = [
        orjson.dumps(
            {
                "id": f"{model}-{n}",
                "timestamp": (first + timedelta(seconds=3 * n)).isoformat(),
                "app": FRESH_APP,
                "model": model,
                "usage": {"input_tokens": 100, "output_tokens": 20},
                "latency_ms": 800,
            }
        )
        for n in range(FRESH_EVENTS)
    ]
    return b"\n".join(lines) + b"\n"


async def freshness(server: Server) -> list[float]:
    """Seconds from a batch's acknowledgement to a query seeing all of it, FRESH_ROUNDS times."""
    delays = []
    for _ in range(FRESH_ROUNDS):
        model = f"bench-fresh-{uuid.uuid4()}"
        request = request_bytes(fresh_events(model), server.port, False, server.ingest)
        status, body = await post(server.port, request)
        acknowledged = time.perf_counter()
        if status != 200 or orjson.loads(body)["accepted"] != FRESH_EVENTS:
            raise SystemExit(f"bench: fresh events: {status} {body[:300]!r}")
        query = graphql_request(server, FRESH, "Fresh", {"models": [model]}, None)
        while True:
            data = answer(*await post(server.port, query), "Fresh")
            waited = time.perf_counter() - acknowledged
            if data["usage"]["summary"]["messages"] >= FRESH_EVENTS or waited > FRESH_TIMEOUT:
                break
        delays.append(waited)
        print(f"bench:   {FRESH_EVENTS:,} new events visible after {ms(waited)}", file=sys.stderr)
    return delays


# ---- The report. ----


def ms(seconds: float) -> str:
    value = seconds * 1000
    return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def statement_range(counts: Sequence[int]) -> str:
    """The usual count, and the range when some requests ran more (an API key check, say)."""
    usual = statistics.mode(counts)
    low, high = min(counts), max(counts)
    return str(usual) if low == high else f"{usual} ({low}-{high})"


def ratio(raw: Sequence[float], ours: Sequence[float]) -> str:
    return f"{statistics.median(raw) / statistics.median(ours):.1f}x"


@dataclass
class Bench:
    """Everything one run measured."""

    ingest: Run | None
    dashboard: Dashboard
    figures: list[Figures] = field(default_factory=list)
    fresh: list[float] = field(default_factory=list)
    query_rss: list[tuple[float, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    load: list[float] = field(default_factory=list)  # 1-minute load averages, start and end
    database_bytes: int = 0
    postgres_version: str = ""
    messages: int = 0

    @property
    def peak_rss(self) -> int:
        ingest = self.ingest.rss_samples if self.ingest is not None else []
        return max(rss for _, rss in [*ingest, *self.query_rss])


def verdict(measured: float, target: float, text: str, *, at_most: bool = True) -> str:
    met = measured <= target if at_most else measured >= target
    return "met" if met else f"missed by {text}"


@dataclass(frozen=True)
class Targets:
    """Issue 15's targets for a data set of a size (latencies in seconds)."""

    size: str
    overview_p50: float
    overview_p95: float | None
    dashboard_p50: float | None
    overview_speedup: float = 20
    dashboard_speedup: float = 10


TARGETS_1M = Targets("1M", overview_p50=0.05, overview_p95=None, dashboard_p50=None)
TARGETS_10M = Targets("10M", overview_p50=0.1, overview_p95=0.25, dashboard_p50=0.25)


def targets_for(events: int) -> Targets:
    """The targets of the nearer of the two sizes the issue sets them for."""
    return TARGETS_10M if events >= 3_000_000 else TARGETS_1M


def targets(bench: Bench, overview: Figures, args: argparse.Namespace) -> list[str]:
    """The targets for this size, each met or missed by how much, from figures measured side by
    side in this run."""
    goal = targets_for(bench.ingest.events if bench.ingest is not None else bench.messages)
    fresh = max(bench.fresh)
    peak = bench.peak_rss / MIB
    rows = [("Overview p50", overview.p50, goal.overview_p50)]
    if goal.overview_p95 is not None:
        rows.append(("Overview p95", overview.p95, goal.overview_p95))
    dashboards = [f for f in bench.figures if f.dashboard]
    if goal.dashboard_p50 is not None:
        rows += [(f"{f.label} p50", f.p50, goal.dashboard_p50) for f in dashboards]
    lines = [
        f"| target ({goal.size} events) | measured | verdict |",
        "|---|---|---|",
        *(
            f"| {name} ≤ {ms(limit)} | {ms(value)} | {verdict(value, limit, ms(value - limit))} |"
            for name, value, limit in rows
        ),
    ]
    for f in dashboards:
        if not f.raw:
            continue
        need = goal.overview_speedup if f.label == OVERVIEW else goal.dashboard_speedup
        speedup = statistics.median(f.raw) / f.p50
        lines.append(
            f"| {f.label} ≥ {need:g}x faster than the raw-events plan (p50) | {speedup:.1f}x"
            f" | {verdict(speedup, need, f'{need - speedup:.1f}x', at_most=False)} |"
        )
    lines += [
        f"| freshness ≤ 1 s (worst of {len(bench.fresh)}) | {ms(fresh)}"
        f" | {verdict(fresh, 1.0, ms(fresh - 1.0))} |",
        f"| server memory ≤ 300 MiB (peak RSS of the run, {args.workers} worker(s))"
        f" | {peak:.0f} MiB | {verdict(peak, 300, f'{peak - 300:.0f} MiB')} |",
    ]
    return lines


def table(bench: Bench, clients: int) -> list[str]:
    lines = [
        f"| operation | p50 | p95 | SQL statements | req/s ({clients} clients) | raw p50 | raw p95"
        " | raw statements | raw ÷ ours p50 / p95 | answered from |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in bench.figures:
        raw = ["—", "—", "—", "—"]
        if f.raw:
            raw_p95 = percentile(f.raw, 0.95)
            raw = [
                ms(statistics.median(f.raw)),
                ms(raw_p95),
                str(f.raw_statements),
                f"{ratio(f.raw, f.latencies)} / {raw_p95 / f.p95:.1f}x",
            ]
        label = f"↳ alone: `{f.label.split(': ')[1]}`" if ": " in f.label else f"`{f.label}`"
        lines.append(
            f"| {label} | {ms(f.p50)} | {ms(f.p95)} | {statement_range(f.statements)}"
            f" | {f.rate:,.1f} | {' | '.join(raw)} | {answered_from(f.tables)} |"
        )
    return lines


def answered_from(tables: set[str]) -> str:
    """The tables a panel's statements read: `messages` is raw events, `usage_*` rollups."""
    data = sorted(tables - {"api_keys"})  # a key check now and then is not the answer's
    return ", ".join(f"`{name}`" for name in data) or "—"


def data_lines(bench: Bench) -> list[str]:
    query_peak = max(rss for _, rss in bench.query_rss) / MIB
    size = f"{bench.messages:,} messages stored, database {bench.database_bytes / MIB:,.0f} MiB"
    if bench.ingest is None:
        return [
            f"- data set: reused database ({size}); ingestion not measured in this run",
            f"- server RSS peak while answering queries: {query_peak:.0f} MiB",
        ]
    run = bench.ingest
    ingest_peak = max(rss for _, rss in run.rss_samples) / MIB
    return [
        f"- data set: {run.events:,} demo events (90 days to {END:%Y-%m-%d}) through POST"
        f" /v1/events ({INGEST_CLIENTS} clients, batches of {INGEST_BATCH:,}), in time order, then"
        " VACUUM ANALYZE;"
        f" {size}",
        f"- ingestion: **{run.rate:,.0f} events/s**; server RSS peak {ingest_peak:.0f} MiB while"
        f" ingesting, {query_peak:.0f} MiB while answering queries",
    ]


def report(bench: Bench, args: argparse.Namespace, command: str) -> str:
    overview = next(f for f in bench.figures if f.label == OVERVIEW)
    fresh = ", ".join(ms(delay) for delay in bench.fresh)
    return "\n".join(
        [
            "## Queries: the example dashboards",
            "",
            f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; PostgreSQL"
            f" {bench.postgres_version} on the same machine; `usageql serve` with default"
            f" settings but for `--workers` ({args.workers}) and JSON logs at level info,"
            " no statement timeout, a pool of 40 database connections.",
            f"Command: `{command}`",
            "",
            *data_lines(bench),
            f"- variables: `from` {FROM:%Y-%m-%d %H:%M:%S} UTC (30 days and 17 min 23 s before"
            f" the data's end), `to` {END:%Y-%m-%d %H:%M} UTC where an operation takes it,"
            f" `timezone` {TIMEZONE} (the overview; the others use their default, UTC), `model`"
            f" {bench.dashboard.model} and `app` {bench.dashboard.app} (the top ones),"
            f" `granularity` DAY, `first` {PAGE}",
            f"- latency: p50 and p95 of {args.runs} sequential requests after {WARMUP} warm-ups,"
            " measured by the client (one new connection each); SQL statements per request from"
            " the server's request log (usually; in brackets when a request also re-checked the"
            f" API key, once per 5 s); req/s: {args.clients} concurrent clients for"
            f" {args.seconds:g} s",
            f"- machine load (1-minute load average on {os.cpu_count()} cores) as the queries"
            f" began and ended: {bench.load[0]:.1f} and {bench.load[-1]:.1f}",
            "- the raw-events plan: one GROUP BY statement per dashboard panel over `messages`"
            " (and `feedback`, `chats`, `users`), as the seed products compute them, same"
            " filters and bound parameters, run one after another on one asyncpg connection"
            " (SQL in bench/queries.py)",
            "",
            *table(bench, args.clients),
            "",
            f"Freshness: {FRESH_EVENTS:,} events of a new model, posted with timestamps in the"
            " data's last hour, were all counted by `usage(filter: {models: [...]})` this long"
            f" after POST /v1/events answered 200: {fresh}.",
            "",
            *targets(bench, overview, args),
            "",
            *(f"Note: {note}" for note in bench.notes),
            *([""] if bench.notes else []),
        ]
    )


# ---- The run. ----


async def build(server: Server, args: argparse.Namespace, dsn: str) -> Run:
    """The data set, through the ingestion path, with progress; then VACUUM ANALYZE, as
    autovacuum would have done on a table that grew to this size (statistics, the visibility
    map, the BRIN summaries of filled block ranges)."""
    path = events_file(args.events, args.seed)
    bodies = batches(path, INGEST_BATCH, False, hold_back=2 * INGEST_CLIENTS)
    run = Run(args.events, INGEST_BATCH, INGEST_CLIENTS, False, args.workers)
    requests = len(bodies.bodies)
    print(f"bench: sending {args.events:,} events in {requests} requests", file=sys.stderr)
    sending = asyncio.create_task(send(run, bodies, server.port, server.pid, server.ingest))
    while not sending.done():
        await asyncio.wait({sending}, timeout=5)
        print(f"bench:   {run.accepted:,} events accepted", file=sys.stderr)
    await sending
    if run.rejected or run.duplicates:
        raise SystemExit(
            f"bench: {run.rejected:,} rejected, {run.duplicates:,} duplicates"
            f" (first: {run.rejections})"
        )
    # The data set's days have all ended: into the daily tables, as a server does each night.
    print(f"bench: {run.rate:,.0f} events/s; usageql compact", file=sys.stderr)
    started = time.perf_counter()
    compacting = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "usageql", "compact",
        env={**os.environ, "DATABASE_URL": dsn, "USAGEQL_LOG_LEVEL": "warning"},
    )  # fmt: skip
    if await compacting.wait():
        raise SystemExit("bench: usageql compact failed")
    took = time.perf_counter() - started
    print(f"bench: compacted in {took:.1f} s; VACUUM ANALYZE", file=sys.stderr)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()
    return run


TOP_VARIABLES = {"from": FROM.isoformat(), "to": END.isoformat()}


def top_of(data: dict[str, Any]) -> Dashboard:
    """The dashboards' app and model from TOP's answer: the period's top ones."""
    models, apps = data["usage"]["models"], data["usage"]["apps"]
    if not models or not apps:
        raise SystemExit("bench: the data set has no events in the dashboards' period")
    return Dashboard(app=apps[0]["app"], model=models[0]["model"])


async def dashboard(server: Server) -> Dashboard:
    return top_of(await ask(server, TOP, "Top", TOP_VARIABLES))


async def queries(bench: Bench, server: Server, dsn: str, args: argparse.Namespace) -> None:
    """Every operation, then freshness, sampling the server's memory all along."""
    stop = asyncio.Event()
    sampler = asyncio.create_task(
        sample_memory(server.pid, bench.query_rss, stop, time.perf_counter())
    )
    bench.load.append(os.getloadavg()[0])
    try:
        ops = operations(bench.dashboard)
        for number, op in enumerate(ops, 1):
            print(f"bench: [{number}/{len(ops)}] {op.label}", file=sys.stderr)
            bound = bench.dashboard.bound(op.variables)
            differ = await disagreements(server, dsn, op, bound)
            if differ:
                bench.notes.append(f"{op.label}: the raw plan's totals differ: {differ}")
            bench.figures.append(await measure(server, dsn, op, bound, args))
        print("bench: freshness", file=sys.stderr)
        bench.fresh = await freshness(server)
    finally:
        stop.set()
        await sampler
        bench.load.append(os.getloadavg()[0])


async def session(args: argparse.Namespace, url: str, built: bool, log: Path) -> Bench:
    """Start the server, build the data set if new, measure; the server stops at the end."""
    dsn = asyncpg_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    port = free_port()
    process = start_server(url, port, args.workers, env=SERVER_ENV, log=log)
    try:
        admin, ingest = await api_key(url, Role.ADMIN), await api_key(url, Role.INGEST)
        server = Server(port, process.pid, admin, ingest, log)
        run = await build(server, args, dsn) if built else None
        bench = Bench(ingest=run, dashboard=await dashboard(server))
        await queries(bench, server, dsn, args)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)
    bench.database_bytes, bench.postgres_version, bench.messages = await database_facts(url)
    return bench


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=1, help="usageql serve --workers")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients for req/s")
    parser.add_argument("--runs", type=int, default=30, help="sequential requests per query")
    parser.add_argument(
        "--raw-runs", type=int, help="requests of the raw-events plan (default: --runs)"
    )
    parser.add_argument("--seconds", type=float, default=6.0, help="how long to measure req/s")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--server-url", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_SERVER))
    parser.add_argument("--database", help="a kept data set's URL: measure it, do not ingest")
    parser.add_argument("--keep-database", action="store_true", help="keep the data set built")
    parser.add_argument("--no-record", action="store_true", help="print, do not write RESULTS.md")
    return parser.parse_args()


async def main() -> None:
    args = arguments()
    WORK.mkdir(parents=True, exist_ok=True)
    log = WORK / "queries-server.log"  # the latest run's, kept to look into
    log.unlink(missing_ok=True)
    built = args.database is None
    url = await create_database(args.server_url) if built else args.database
    print(f"bench: server log in {log}", file=sys.stderr)
    try:
        bench = await session(args, url, built, log)
    finally:
        if built and not args.keep_database:
            await drop_database(args.server_url, url)
        elif built:
            print(f"bench: data set kept; measure it again with --database {url}", file=sys.stderr)
    command = "python bench/queries.py " + " ".join(sys.argv[1:])
    section = report(bench, args, command.strip())
    print(section)
    if not args.no_record:
        record_section("queries", section)


if __name__ == "__main__":
    asyncio.run(main())
