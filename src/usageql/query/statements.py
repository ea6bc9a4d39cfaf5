"""Statements kept for the asks that come again.

A dashboard asks the same questions each time it loads or refreshes, and every viewer of it
asks them too. Building a statement's SQLAlchemy expression is about a third of the server's
CPU on a dashboard (the overview at 1M events: ~17 ms of ~50 ms per request), and SQLAlchemy
works out the cache key of every new statement object again before it finds the SQL it
compiled. A compiled statement depends only on what is asked and on the UTC day (which bounds
the days listed for a period without an end: usageql.query.rollups.days), so the latest
`KEPT` are kept, keyed by those, and the same statement object runs again, reading the data of
the moment. Statements only: answers are never kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache

from usageql.query import pieces
from usageql.query.compile import Compiled, compile_question
from usageql.query.execute import KeyValue
from usageql.query.model import Filter, GroupKey, Question

KEPT = 128
"""Statements kept: the example dashboards ask ~30 in all. One holds its bound values (an hour
list, the users of a page) and SQLAlchemy's memoized structure and cache key: ~150 KB for the
overview's (the server's RSS grew 37 MB over 40 overviews of distinct periods with 256 kept),
so ~19 MB when full."""


def compiled(
    question: Question,
    filter: Filter,
    timezone: str,
    narrow_keys: tuple[GroupKey, ...],
    narrow_values: Sequence[tuple[KeyValue, ...]],
    *,
    use_rollups: bool,
    now: datetime | None = None,
    compacted: datetime | None = None,
) -> Compiled:
    """compile_question's statement for this ask, built once per UTC day (of `now`: the
    clock's by default) and reach of the daily tables (`compacted`)."""
    day = pieces.floor(now or datetime.now(UTC), pieces.DAY)  # as rollups.days takes it
    values = tuple(narrow_values)
    clock = {"day": day, "compacted": compacted}
    return _kept(question, filter, timezone, narrow_keys, values, use_rollups=use_rollups, **clock)


@lru_cache(maxsize=KEPT)
def _kept(
    question: Question,
    filter: Filter,
    timezone: str,
    narrow_keys: tuple[GroupKey, ...],
    narrow_values: tuple[tuple[KeyValue, ...], ...],
    *,
    use_rollups: bool,
    day: datetime,
    compacted: datetime | None,
) -> Compiled:
    return compile_question(
        question,
        filter,
        timezone,
        narrow_keys,
        narrow_values,
        use_rollups=use_rollups,
        now=day,
        compacted=compacted,
    )
