"""How the query layer reports what is not a fault of the query itself."""

from __future__ import annotations

import pytest

from usageql.db.engine import create_engine
from usageql.query.compile import compile_question
from usageql.query.execute import ServerBusyError, run
from usageql.query.model import Filter, Metric, Question


async def test_a_pool_in_use_too_long_is_a_clear_retryable_error(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=1, pool_timeout=0.2)  # 1 + 1 overflow
    compiled = compile_question(Question(metrics=frozenset({Metric.MESSAGES})), Filter(), "UTC")
    try:
        async with engine.connect(), engine.connect():  # every connection taken
            with pytest.raises(ServerBusyError, match=r"the server is busy: .* retry in a moment"):
                await run(engine, compiled, [()])
        # Once connections are free again, the same question is answered.
        [[row]] = await run(engine, compiled, [()])
        assert row.values == {Metric.MESSAGES: 0}
    finally:
        await engine.dispose()
