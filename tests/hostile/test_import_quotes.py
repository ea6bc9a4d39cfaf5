"""`usageql import` of CSV with a quote left open: one record rejected, none swallowed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from usageql.cli import main
from usageql.db.engine import create_engine
from usageql.db.tables import messages

WHEN = "2026-03-01T12:00:00Z"


def _stored(url: str) -> dict[str, str | None]:
    async def read() -> dict[str, str | None]:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.connect() as connection:
                query = select(messages.c.message_id, messages.c.content_preview)
                rows = (await connection.execute(query)).all()
                return {row.message_id: row.content_preview for row in rows}
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_an_unclosed_quote_costs_one_record_and_its_line_is_listed(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "usage.csv"
    table.write_text(
        "id,timestamp,model,content\n"
        f'm1,{WHEN},gpt-4o,"Hello,\nworld"\n'  # a line break in content: fine
        f'm2,{WHEN},"gpt-4o,oops\n'  # the quote never closes
        f"m3,{WHEN},gpt-4o,after\n"
        f"m4,{WHEN},gpt-4o,last\n"
    )
    assert main(["import", str(table)]) == 1
    err = capsys.readouterr().err
    assert ": 3 stored, 0 already stored, 0 chat records applied, 1 rejected" in err
    assert (
        f"  {table} line 4: model: a quote opened on this line is still open at the end of the"
        " file" in err
    )
    assert _stored(env) == {"m1": "Hello,\nworld", "m3": "after", "m4": "last"}
