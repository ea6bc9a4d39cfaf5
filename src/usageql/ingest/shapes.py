"""The usage objects a record's `usage` may be: usageql's own and providers', each declared once.

A shape names the keys it reads into each of usageql's counts (a path into a nested object is
`object.key`) and the keys its provider also sends that usageql does not store. Everything else
follows from that declaration: which keys select the shape, which keys it knows, and so which
keys are a mistake. usageql's own shape is strict, so a typo is an error and never a silent 0.
Provider shapes pass through what providers add over time, except a key one or two letters away
from a key of the shape, which can only be a typo of it. usageql.ingest.parse reads the counts.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

TOTAL = "total_tokens"
"""Checked against input + output in every shape that has it."""

COUNTS = ("input", "output", "cache_read", "cache_write", "reasoning")
"""usageql's counts, in the order of usageql.ingest.records.Usage's fields."""


@dataclass(frozen=True, slots=True)
class Shape:
    """One kind of usage object."""

    reads: Mapping[str, tuple[str, ...]]  # usageql count -> paths summed into it
    unread: tuple[str, ...] = ()  # paths the provider sends that usageql does not store
    strict: bool = False  # every key it does not know is an error
    keys: frozenset[str] = field(init=False)  # top-level keys, TOTAL included
    nested: Mapping[str, frozenset[str]] = field(init=False)  # object read from -> its keys
    # Every count in Usage's order, with its paths as (key, key in the nested object or ""):
    # what parse reads.
    plan: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = field(init=False)

    def __post_init__(self) -> None:
        read = [path for paths in self.reads.values() for path in paths]
        paths = [*read, *self.unread, TOTAL]
        objects = {head for head, key in map(_split, read) if key}
        nested = {
            name: frozenset(key for head, key in map(_split, paths) if head == name and key)
            for name in objects
        }
        plan = tuple((count, tuple(map(_split, self.reads.get(count, ())))) for count in COUNTS)
        object.__setattr__(self, "keys", frozenset(head for head, _ in map(_split, paths)))
        object.__setattr__(self, "nested", nested)
        object.__setattr__(self, "plan", plan)


def _split(path: str) -> tuple[str, str]:
    """A path as (key, key in the nested object or "")."""
    head, _, key = path.partition(".")
    return head, key


USAGEQL = Shape(
    {
        "input": ("input_tokens",),
        "output": ("output_tokens",),
        "cache_read": ("cache_read_tokens",),
        "cache_write": ("cache_write_tokens",),
        "reasoning": ("reasoning_tokens",),
    },
    strict=True,
)
OPENAI_CHAT = Shape(
    {
        "input": ("prompt_tokens",),  # cached tokens are part of it
        "output": ("completion_tokens",),  # reasoning tokens are part of it
        "cache_read": ("prompt_tokens_details.cached_tokens",),
        "reasoning": ("completion_tokens_details.reasoning_tokens",),
    },
    unread=(
        "prompt_tokens_details.audio_tokens",
        "completion_tokens_details.audio_tokens",
        "completion_tokens_details.accepted_prediction_tokens",
        "completion_tokens_details.rejected_prediction_tokens",
    ),
)
OPENAI_RESPONSES = Shape(
    {
        "input": ("input_tokens",),
        "output": ("output_tokens",),
        "cache_read": ("input_tokens_details.cached_tokens",),
        "reasoning": ("output_tokens_details.reasoning_tokens",),
    },
)
ANTHROPIC = Shape(
    {
        # Anthropic counts cache reads and writes apart from input_tokens.
        "input": ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"),
        "output": ("output_tokens",),
        "cache_read": ("cache_read_input_tokens",),
        "cache_write": ("cache_creation_input_tokens",),
    },
    unread=("cache_creation", "server_tool_use", "service_tier", "inference_geo", "speed"),
)

# In the order they are tried; usageql's own shape is the default.
PROVIDER_SHAPES = (OPENAI_CHAT, ANTHROPIC, OPENAI_RESPONSES)
SHAPES = (*PROVIDER_SHAPES, USAGEQL)
ALL_KEYS = frozenset(key for shape in SHAPES for key in shape.keys)


def _markers(shape: Shape) -> frozenset[str]:
    """The keys only `shape` has: any one of them selects it."""
    others = {key for other in SHAPES if other is not shape for key in other.keys}
    return shape.keys - others


_MARKED = tuple((shape, _markers(shape)) for shape in PROVIDER_SHAPES)


def shape_of(usage: Mapping[str, object]) -> Shape:
    """The first provider shape one of whose own keys `usage` has, else usageql's."""
    for shape, markers in _MARKED:
        if not markers.isdisjoint(usage.keys()):
            return shape
    return USAGEQL


def mistaken_key(key: str, known: frozenset[str], *, strict: bool) -> str | None:
    """Why `key`, not among `known`, is an error ("unknown field (did you mean x?)"), or None when
    a provider shape passes it through."""
    typo = _typo_of(key, known)
    if typo is not None:
        return f"unknown field (did you mean {typo}?)"
    if not strict:
        return None
    close = difflib.get_close_matches(key, sorted(ALL_KEYS), n=1)
    return f"unknown field (did you mean {close[0]}?)" if close else "unknown field"


@lru_cache(maxsize=1024)  # the same few extra keys come with every record of a producer
def _typo_of(key: str, known: frozenset[str]) -> str | None:
    """The known key closest to `key` if one or two edits (insert, delete, replace, swap of
    neighbours) away; the first in byte order among equally close ones."""
    distance, closest = min((_edits(key, k), k) for k in known)
    return closest if distance <= 2 else None


def _edits(a: str, b: str) -> int:
    """The optimal string alignment distance of `a` and `b`, or 3 when it is more than 2."""
    if abs(len(a) - len(b)) > 2:
        return 3
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char in enumerate(a, 1):
        row = [i]
        for j, other in enumerate(b, 1):
            best = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (char != other))
            if i > 1 and j > 1 and char == b[j - 2] and a[i - 2] == other:
                best = min(best, before[j - 2] + 1)
            row.append(best)
        if min(row) > 2:
            return 3
        before, previous = previous, row
    return min(previous[-1], 3)
