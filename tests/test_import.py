"""`usageql import` and `usageql prices`: files in, summary out, counts exact on re-runs."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from usageql.cli import main
from usageql.db.engine import create_engine
from usageql.db.tables import messages, prices

WHEN = "2026-03-01T12:00:00Z"


def _record(n: int, **fields: Any) -> dict[str, Any]:
    return {"id": f"m{n}", "timestamp": WHEN, "model": "gpt-4o", **fields}


def _ndjson(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _count(url: str, table: Any = messages) -> int:
    """Rows in `table` (the CLI runs its own event loop, so this test code is synchronous)."""

    async def count() -> int:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.connect() as connection:
                return int(await connection.scalar(select(func.count()).select_from(table)) or 0)
        finally:
            await engine.dispose()

    return asyncio.run(count())


def test_import_reads_every_format_and_summarises(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _ndjson(tmp_path / "a.ndjson", [_record(1), _record(2, cost="free"), _record(3)])
    array = tmp_path / "b.json"
    array.write_text(json.dumps([_record(4), _record(5)]))
    packed = tmp_path / "c.jsonl.gz"
    packed.write_bytes(gzip.compress(json.dumps(_record(6)).encode() + b"\n"))
    table = tmp_path / "d.csv"
    table.write_text(
        "id,timestamp,model,user,user.name,usage.input_tokens,usage.output_tokens,tags,metadata.team\n"
        f"m7,{WHEN},gpt-4o,u1,Ana,100,20,a|b,core\n"
        f"m8,{WHEN},gpt-4o,,,-5,,,\n"
    )
    args = ["import", str(lines), str(array), str(packed), str(table), "--batch-size", "2"]
    assert main(args) == 1  # some records were rejected
    err = capsys.readouterr().err
    assert "import: 8 records in " in err
    assert ": 6 stored, 0 already stored, 0 chat records applied, 2 rejected" in err
    assert f"  {lines} line 2 (id m2): cost: expected a number, got 'free'" in err
    assert f"  {table} line 3 (id m8): usage.input_tokens: must not be negative, got -5" in err
    assert _count(env) == 6


def test_an_interrupted_import_is_finished_by_running_it_again(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [_record(n, user=f"u{n % 3}") for n in range(30)]
    partial = _ndjson(tmp_path / "partial.ndjson", records[:12])  # what got through before
    full = _ndjson(tmp_path / "full.ndjson", records)
    assert main(["import", str(partial)]) == 0
    assert main(["import", str(full), "--batch-size", "7"]) == 0
    err = capsys.readouterr().err
    assert ": 18 stored, 12 already stored, 0 chat records applied, 0 rejected" in err
    assert _count(env) == 30


def test_importing_a_file_again_stores_nothing_and_counts_its_chats_apart(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chat = {"type": "chat", "id": "c1", "timestamp": WHEN, "title": "Plans"}
    rating = {"type": "feedback", "id": "f1", "timestamp": WHEN, "message_id": "m0", "rating": 1}
    file = _ndjson(tmp_path / "export.ndjson", [_record(0, chat_id="c1"), _record(1), rating, chat])
    assert main(["import", str(file)]) == 0
    first = capsys.readouterr().err
    assert ": 3 stored, 0 already stored, 1 chat record applied, 0 rejected" in first
    assert main(["import", str(file)]) == 0
    again = capsys.readouterr().err
    assert ": 0 stored, 3 already stored, 1 chat record applied, 0 rejected" in again
    assert _count(env) == 2


def test_a_file_that_is_not_json_says_where_and_what_in_words(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    array = tmp_path / "export.json"
    array.write_text('[\n  {"id": "m1", "timestamp": "%s", "model": gpt-4o}\n]\n' % WHEN)
    lines = _ndjson(tmp_path / "export.ndjson", [_record(1)])
    with lines.open("a") as file:
        file.write("{'id': 'm2'}\n")
    assert main(["import", str(array)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"usageql: error: {array}: the file is not valid JSON: expected a value at line 2, column"
        " 62, found 'gpt-4o': a value is a string in double quotes, a number, true, false, null,"
        " an object or an array"
    )
    assert main(["import", str(lines)]) == 1
    assert (
        f"  {lines} line 2: not valid JSON: expected a key in double quotes at column 2, found"
        " \"'id'\"; each line must be one JSON object"
    ) in capsys.readouterr().err


def test_import_reads_stdin(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = "".join(json.dumps(_record(n)) + "\n" for n in range(3)).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["import", "-"]) == 0
    assert ": 3 stored, 0 already stored, 0 chat records applied, 0 rejected" in (
        capsys.readouterr().err
    )
    assert _count(env) == 3


def test_import_of_a_missing_file_is_one_line(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", str(tmp_path / "nope.ndjson")]) == 1
    assert capsys.readouterr().err.strip() == (
        f"usageql: error: {tmp_path / 'nope.ndjson'}: No such file or directory"
    )


def test_prices_load_list_and_delete(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "prices.csv"
    table.write_text("model,app,input,output,cache_read\nmine,,1,2,0.5\nmine,vip,0.5,1,\n")
    assert main(["prices", "load", str(table)]) == 0
    assert "prices: set 2 prices from" in capsys.readouterr().err
    assert _count(env, prices) == 2
    assert main(["prices", "list", "--configured"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert listed == [
        {"model": "mine", "app": "*", "input": 1.0, "output": 2.0, "cache_read": 0.5,
         "source": "configured"},
        {"model": "mine", "app": "vip", "input": 0.5, "output": 1.0, "source": "configured"},
    ]  # fmt: skip
    assert main(["prices", "delete", "mine", "--app", "vip"]) == 0
    assert "prices: deleted 1 prices" in capsys.readouterr().err
    assert _count(env, prices) == 1


def test_a_bad_price_file_names_the_entry(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "prices.json"
    table.write_text(json.dumps({"gpt-4o": {"input": 2.5}, "x": {"input": 1, "output": 1}}))
    assert main(["prices", "load", str(table)]) == 1
    assert capsys.readouterr().err.strip() == (
        "usageql: error: prices.json.gpt-4o.output: required (USD per million tokens)"
    )
