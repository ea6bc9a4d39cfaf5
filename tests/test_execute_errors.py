"""How the query layer reports what is not a fault of the query itself."""

from __future__ import annotations

import pytest

from usageql.db.engine import create_engine
from usageql.db.outage import Unavailable
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


async def test_an_unreachable_database_is_a_clear_retryable_error() -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    engine = create_engine("postgresql://postgres@127.0.0.1:1/nothing", pool_size=1)
    compiled = compile_question(Question(metrics=frozenset({Metric.MESSAGES})), Filter(), "UTC")
    try:
        with pytest.raises(Unavailable) as raised:
            await run(engine, compiled, [()])
    finally:
        await engine.dispose()
    assert raised.value.message == (
        "the database is unavailable (stopped, restarting or unreachable): retry in a few seconds"
    )
    assert raised.value.retry_after == 5
    assert isinstance(raised.value.__cause__, ConnectionRefusedError)
