"""The compiler's SQL, compared with reviewed snapshots in tests/snapshots/.

After an intended change, regenerate them with USAGEQL_UPDATE_SNAPSHOTS=1 and review the diff.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from usageql.query.compile import Compiled, compile_question
from usageql.query.model import (
    Dimension,
    Filter,
    Granularity,
    MetadataKey,
    Metric,
    Order,
    Question,
    TimeBucket,
    Windows,
)

SNAPSHOTS = Path(__file__).parent / "snapshots"
DIALECT = create_engine("postgresql+asyncpg://snapshots").dialect  # compiles; never connects
DAY = TimeBucket(Granularity.DAY)
FILTER = Filter(
    start=datetime(2026, 1, 1, tzinfo=UTC),
    end=datetime(2026, 2, 1, tzinfo=UTC),
    values=((Dimension.APP, ("shop",)),),
)
# Rolling months ending on 29, 30 and 31 March 2026 all start on 28 February (no 29th to 31st).
ROLLING = Question(
    metrics=frozenset({Metric.USERS}),
    group_by=(
        Windows(
            tuple(
                (datetime(2026, 2, 28, tzinfo=UTC), datetime(2026, 3, day, tzinfo=UTC))
                for day in (29, 30, 31)
            )
        ),
    ),
)

CASES: dict[str, Compiled] = {
    "summary": compile_question(
        Question(metrics=frozenset({Metric.MESSAGES, Metric.USERS, Metric.TOTAL_TOKENS})),
        FILTER,
        "UTC",
    ),
    "models_top_10_by_spend": compile_question(
        Question(
            metrics=frozenset({Metric.REQUESTS, Metric.SPEND, Metric.LATENCY_P95}),
            group_by=(Dimension.MODEL,),
            order=Order(Metric.SPEND),
            limit=10,
        ),
        FILTER,
        "UTC",
    ),
    "daily_series_per_model_in_berlin": compile_question(
        Question(metrics=frozenset({Metric.REQUESTS}), group_by=(DAY,)),
        FILTER,
        "Europe/Berlin",
        (Dimension.MODEL,),
        [("gpt-4o",), ("o3",)],
    ),
    "top_3_tags_per_day_containing_a_pattern": compile_question(
        Question(
            metrics=frozenset({Metric.REQUESTS}),
            group_by=(Dimension.TAG,),
            order=Order(Metric.REQUESTS),
            limit=3,
        ),
        Filter(tag_contains=("User-Agent:",)),
        "UTC",
        (DAY,),
        [(datetime(2026, 1, 1, tzinfo=UTC),), (datetime(2026, 1, 2, tzinfo=UTC),)],
    ),
    "breakdown_with_metadata_and_null_keys": compile_question(
        Question(
            metrics=frozenset({Metric.MESSAGES}),
            group_by=(Dimension.PROVIDER, MetadataKey("team")),
            order=Order(Metric.MESSAGES, descending=False),
            exclude_null_keys=False,
        ),
        Filter(metadata=(("env", ("prod",)),), values=((Dimension.TAG, ("a",)),)),
        "UTC",
        (Dimension.USER,),
        [("u1",), (None,)],
    ),
    "rolling_windows_keyed_by_both_bounds": compile_question(ROLLING, Filter(), "UTC"),
    "rolling_windows_from_rollups": compile_question(
        ROLLING, Filter(), "Europe/Berlin", use_rollups=True
    ),
}


def _sql(compiled: Compiled) -> str:
    return str(compiled.statement.compile(dialect=DIALECT)) + "\n"


@pytest.mark.parametrize("name", sorted(CASES))
def test_compiled_sql_matches_its_snapshot(name: str) -> None:
    path = SNAPSHOTS / f"{name}.sql"
    sql = _sql(CASES[name])
    if os.environ.get("USAGEQL_UPDATE_SNAPSHOTS") == "1":
        path.write_text(sql)
    assert path.exists(), f"no snapshot {path}: run with USAGEQL_UPDATE_SNAPSHOTS=1 and review"
    assert sql == path.read_text(), (
        f"{name}: the SQL changed; if intended, run USAGEQL_UPDATE_SNAPSHOTS=1 and review"
    )


def test_values_are_bound_never_inlined() -> None:
    for compiled in CASES.values():
        sql = _sql(compiled)
        for literal in ("shop", "gpt-4o", "User-Agent", "Europe/Berlin", "prod", "2026-0"):
            assert literal not in sql
