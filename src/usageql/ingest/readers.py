"""Decoding request bodies and files into raw records: NDJSON, JSON arrays and CSV."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from usageql.ingest.jsontext import json_problem
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


def read_json(data: bytes, what: str = "the body") -> list[RawRecord]:
    """A JSON array of records (or a single record object); `what` names the input in errors."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        problem = json_problem(error, multiline=b"\n" in data.strip())
        raise BodyError(f"{what} is not valid JSON: {problem}") from None
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
FREE_TEXT = frozenset({"content", "title", "comment"})
"""Columns whose quoted cells may span lines: text people write. A line break in any other cell
can only be a quote left open, which would swallow the records after it into one field."""
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # as text files in newline="" mode split lines


def read_csv(text: Iterable[str]) -> Iterator[RawRecord]:
    """Records from CSV text with a header row, each located by the line it starts on (the header
    is line 1). A quote left open (a line break inside quotes in a column other than content,
    title and comment, or a quote still open at the end) rejects the record on the line where
    the quote opened, and reading resumes on the line after it: one stray quote costs one
    record, not the rest of the file."""
    lines = _Lines(text)
    reader = csv.reader(lines, strict=True)
    header: list[str] | None = None
    while True:
        lines.row = []
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            line, cell = _last_quote(lines.row)
            lines.again_after(line)
            problem = _csv_problem(error)
            if cell is not None:
                problem = f"{_column(header, cell)}: {problem}"
            if header is None:
                raise BodyError(f"line {line}: the CSV header is not valid: {problem}") from None
            yield Location("line", line), Undecodable(problem)
            continue
        if not cells:  # a blank line
            continue
        first = lines.row[0][0]
        spanning = _spanning_cell(header, cells, first) if len(lines.row) > 1 else None
        if spanning is not None:
            line, cell = spanning
            lines.again_after(line)
            problem = f"{_column(header, cell)}: a quote opened on this line is not closed on it"
            if header is None:
                raise BodyError(f"line {line}: the CSV header is not valid: {problem}")
            yield Location("line", line), Undecodable(f"{problem} ({_SPANNING})")
        elif header is None:
            header = cells
        else:
            yield Location("line", first), _csv_record(header, cells)


_SPANNING = "only content, title and comment cells may span lines"


class _Lines:
    """The lines of a CSV text, numbered from 1, for csv.reader. It remembers the lines of the
    row being read (`row`), and gives some of them again after a broken quote."""

    def __init__(self, text: Iterable[str]) -> None:
        self._source = iter(text)
        self._read = 0
        self._again: list[tuple[int, str]] = []  # lines to give again, the next one last
        self.row: list[tuple[int, str]] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self._again:
            number, line = self._again.pop()
        else:
            line = next(self._source)
            self._read += 1
            number = self._read
        self.row.append((number, line))
        return line

    def again_after(self, number: int) -> None:
        """Give the lines of the current row after line `number` again, as new rows."""
        self._again.extend(reversed([item for item in self.row if item[0] > number]))


def _spanning_cell(
    header: list[str] | None, cells: list[str], first: int
) -> tuple[int, int] | None:
    """(line it opened on, position) of the first cell spanning lines in a column where text
    cannot, or None. Only quoted cells hold line breaks, so each cell starts on the first line
    plus the line breaks of the cells before it."""
    line = first
    for position, cell in enumerate(cells):
        breaks = len(_LINE_BREAK.findall(cell)) if "\n" in cell or "\r" in cell else 0
        if breaks and (header is None or _column(header, position) not in FREE_TEXT):
            return line, position
        line += breaks
    return None


def _last_quote(lines: list[tuple[int, str]]) -> tuple[int, int | None]:
    """(line, position) of the last quoted cell that opened in the lines of a row csv.reader
    could not read; the row's first line and no position when none did."""
    opened: tuple[int, int | None] = (lines[0][0], None)
    position, state = 0, "start"
    for number, line in lines:
        for char in line:
            if state == "quoted":
                state = "closed" if char == '"' else "quoted"
            elif state == "closed" and char == '"':
                state = "quoted"  # a quote written twice inside quotes
            elif char == ",":
                position, state = position + 1, "start"
            elif char in "\r\n":
                position, state = 0, "start"
            elif state == "start" and char == '"':
                opened, state = (number, position), "quoted"
            else:
                state = "unquoted"
    return opened


def _column(header: list[str] | None, position: int) -> str:
    if header is None:
        return f"column {position + 1}"
    return header[position] if position < len(header) else "a cell beyond the header's columns"


def _csv_problem(error: csv.Error) -> str:
    """What csv.reader's complaint means for the person fixing the file."""
    text = str(error)
    if text == "unexpected end of data":
        return "a quote opened on this line is still open at the end of the file"
    if "expected after" in text:
        return 'a quoted cell goes on after its closing quote (inside quotes, write a quote as "")'
    if "field limit" in text:
        limit = csv.field_size_limit()
        return f"a cell is longer than {limit:,} characters, the most a CSV cell may hold"
    return f"not valid CSV: {text}"


def _csv_record(header: list[str], cells: list[str]) -> object:
    if len(cells) > len(header):
        return Undecodable("more cells than columns in the header")
    record: dict[str, Any] = {}
    for name, cell in zip(header, cells, strict=False):  # a short row leaves the rest absent
        if cell == "":
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
