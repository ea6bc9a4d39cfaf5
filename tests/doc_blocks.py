"""The code blocks of README.md and docs/*.md, for tests/test_docs.py to run as a reader would.

A block that cannot run in a test carries, on the lines right before its fence, the marker
`<!-- not run by tests/test_docs.py: why -->`. An expected answer is a whole-line comment of a
shell block that starts with `# {` or `# [`: the JSON after `#` is what a command prints.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))

RUNNABLE = frozenset({"sh", "graphql"})
"""Languages the test runs: shell through bash, GraphQL POSTed to the server."""
SHOWN = frozenset({"json"})
"""Languages of what a reader reads rather than runs: answers, file contents."""

MARKER = re.compile(r"<!-- not run by tests/test_docs\.py: (?P<why>.*?) -->")
_FENCE = re.compile(r"```(?P<language>[\w-]*)\s*")
_ANSWER = re.compile(r"\s*# (?=[\[{])")


@dataclass(frozen=True, slots=True)
class Block:
    """A fenced code block, where it is, and why it is not run (None: it is)."""

    path: Path
    line: int  # of the opening fence, from 1
    language: str
    text: str
    not_run: str | None

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line} ({self.language or 'no language'})"


@dataclass(frozen=True, slots=True)
class StrayMarker:
    """A marker with no block right after it, or with no reason."""

    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def read_blocks(path: Path) -> tuple[list[Block], list[StrayMarker]]:
    """Every fenced block of a Markdown file, and the markers that mark none."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    used: set[int] = set()
    number = 0
    while number < len(lines):
        opening = _FENCE.fullmatch(lines[number])
        if opening is None:
            number += 1
            continue
        end = number + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        why, marker_line = _marker_before(lines, number)
        if marker_line is not None:
            used.add(marker_line)
        text = "\n".join(lines[number + 1 : end]) + "\n"
        blocks.append(Block(path, number + 1, opening["language"], text, why))
        number = end + 1
    stray = [
        StrayMarker(path, n + 1)
        for n, line in enumerate(lines)
        if (found := MARKER.search(line)) and (n not in used or not found["why"].strip())
    ]
    return blocks, stray


def _marker_before(lines: list[str], fence: int) -> tuple[str | None, int | None]:
    """The reason of a marker among the HTML comment lines right above line `fence` (0-based)."""
    above = fence - 1
    while above >= 0 and lines[above].startswith("<!--") and lines[above].endswith("-->"):
        found = MARKER.fullmatch(lines[above].strip())
        if found:
            return found["why"], above
        above -= 1
    return None, None


def all_blocks() -> tuple[list[Block], list[StrayMarker]]:
    """The blocks and stray markers of every doc, in reading order."""
    blocks: list[Block] = []
    stray: list[StrayMarker] = []
    for path in DOCS:
        found, loose = read_blocks(path)
        blocks += found
        stray += loose
    return blocks, stray


def expected_answers(script: str) -> list[object]:
    """The JSON values a shell block's `# {...}` comment lines say its commands print."""
    answers = []
    for line in script.splitlines():
        if _ANSWER.match(line):
            answers.append(json.loads(line.split("#", 1)[1]))
    return answers


def json_values(output: str) -> Iterator[object]:
    """The JSON objects and arrays in a command's output, however they are run together
    (`curl -s` prints no newline after an answer)."""
    decoder = json.JSONDecoder()
    position = 0
    while position < len(output):
        if output[position] in "{[":
            try:
                value, end = decoder.raw_decode(output, position)
            except json.JSONDecodeError:
                pass
            else:
                yield value
                position = end
                continue
        position += 1


def matches(expected: object, actual: object) -> bool:
    """Whether `actual` is the answer `expected` shows: equal, except that an object shown may
    leave out keys, to abridge."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return all(key in actual and matches(value, actual[key]) for key, value in expected.items())
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(map(matches, expected, actual))
    return expected == actual and isinstance(expected, bool) == isinstance(actual, bool)


def unmatched(expected: list[object], actual: list[object]) -> list[object]:
    """The answers of `expected` not found in `actual`, each looked for after the last found."""
    missing = []
    position = 0
    for answer in expected:
        found = next((n for n in range(position, len(actual)) if matches(answer, actual[n])), None)
        if found is None:
            missing.append(answer)
        else:
            position = found + 1
    return missing
