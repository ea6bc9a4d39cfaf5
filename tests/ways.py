"""Run a test module twice: answered from raw events, and from the hourly rollups.

Import `way` and `settings` into a module (`from tests.ways import settings, way`) and every test
there runs once with USAGEQL_ROLLUPS off and once on; both must give the same answers.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.sqlcount import StatementLog
from usageql.config import Settings


@pytest.fixture(params=["raw", "rollups"])
def way(request: pytest.FixtureRequest) -> str:
    """How the server answers: from raw events, or from the rollups where they are exact."""
    return str(request.param)


@pytest.fixture
def settings(settings: Settings, way: str) -> Settings:
    return replace(settings, rollups=way != "raw")


def read_rollups(sql: StatementLog) -> bool:
    """Whether any of the statements read a rollup table."""
    tables = ("usage_hourly", "usage_daily", "usage_monthly")
    return any(table in statement for statement in sql.statements for table in tables)
