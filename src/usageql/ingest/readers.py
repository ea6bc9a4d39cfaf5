"""Decoding request bodies and files into raw records: NDJSON, JSON arrays and CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from usageql.ingest.pipeline import Location, RawRecord, Undecodable


class BodyError(ValueError):
    """The input as a whole cannot be read (not one bad record, which is rejected alone)."""


def read_ndjson(lines: Iterable[bytes | str], first_line: int = 1) -> Iterator[RawRecord]:
    """One record per line, left undecoded for the parser's fast path; blank lines are skipped.

    A line that is not JSON is rejected alone when it is parsed.
    """
    for number, line in enumerate(lines, start=first_line):
        if line.strip():
            yield Location("line", number), line.encode() if isinstance(line, str) else line


def read_json(data: bytes) -> list[RawRecord]:
    """A JSON array of records (or a single record object)."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise BodyError(f"the body is not valid JSON: {error}") from None
    if isinstance(value, dict):
        return [(Location("index", 0), value)]
    if not isinstance(value, list):
        raise BodyError("expected a JSON array of records (or one record object)")
    return [(Location("index", n), item) for n, item in enumerate(value)]


# CSV: the same names as JSON; nested fields with dots (user.id, usage.input_tokens,
# usage.prompt_tokens_details.cached_tokens, metadata.team); tags as a JSON array or a|b|c;
# an empty cell is an absent field. Numeric fields are read as numbers when they look like one,
# and anything else is left as text for validation to reject with the field's name.
_NUMERIC = {"timestamp", "cost", "latency_ms", "ttft_ms", "rating"}


def read_csv(text: Iterable[str]) -> Iterator[RawRecord]:
    """Records from CSV text with a header row; locations are line numbers (the header is 1)."""
    reader = csv.DictReader(text)
    if reader.fieldnames is None:
        return
    for row in reader:
        yield Location("line", reader.line_num), _csv_record(row)


def _csv_record(row: dict[str | Any, str | Any]) -> object:
    if None in row:
        return Undecodable("more cells than columns in the header")
    record: dict[str, Any] = {}
    for name, cell in row.items():
        if cell is None or cell == "":
            continue
        value: Any = cell
        if name == "tags":
            value = _csv_tags(cell)
        elif name in _NUMERIC or name.startswith("usage."):
            value = _csv_number(cell)
        _place(record, name.split("."), value)
    return record


def _csv_tags(cell: str) -> object:
    if cell.startswith("["):
        try:
            return orjson.loads(cell)
        except orjson.JSONDecodeError:
            return cell
    return [tag for tag in cell.split("|") if tag]


def _csv_number(cell: str) -> object:
    try:
        return int(cell)
    except ValueError:
        try:
            return float(cell)
        except ValueError:
            return cell


def _place(record: dict[str, Any], path: list[str], value: object) -> None:
    if path == ["user"] and isinstance(record.get("user"), dict):
        record["user"]["id"] = value  # `user` beside `user.name`: the id
        return
    target = record
    for part in path[:-1]:
        inner = target.setdefault(part, {})
        if not isinstance(inner, dict):
            inner = target[part] = {"id": inner} if part == "user" else {}
        target = inner
    target[path[-1]] = value


def csv_text(data: bytes) -> io.StringIO:
    """Bytes of CSV (UTF-8, BOM tolerated) as text for `read_csv`."""
    try:
        return io.StringIO(data.decode("utf-8-sig"), newline="")
    except UnicodeDecodeError as error:
        raise BodyError(f"CSV is not UTF-8: {error}") from None
