"""Per-request dataloaders: sibling scopes asking the same question become one SQL statement.

Each is made for one caller's bound and narrows every read to it, whatever its keys say.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, replace

from aiodataloader import DataLoader
from sqlalchemy.ext.asyncio import AsyncEngine

from usageql.query import statements
from usageql.query.bound import Bound
from usageql.query.execute import (
    ChatOfUsers,
    KeyValue,
    Profile,
    Row,
    first_user_messages,
    run,
    user_profiles,
)
from usageql.query.horizon import Horizon
from usageql.query.model import Filter, GroupKey, Question, Scope, Windows


@dataclass(frozen=True, slots=True)
class Ask:
    """One question in one scope: what a resolver hands the loader."""

    question: Question
    filter: Filter
    timezone: str
    narrow_keys: tuple[GroupKey, ...]
    narrow_values: tuple[KeyValue, ...]

    @classmethod
    def of(cls, question: Question, scope: Scope) -> Ask:
        """The question asked in `scope`."""
        return cls(
            question=question,
            filter=scope.filter,
            timezone=scope.timezone,
            narrow_keys=tuple(n.key for n in scope.narrowing),
            narrow_values=tuple(n.value for n in scope.narrowing),
        )

    @property
    def batch(self) -> tuple[Question, Filter, str, tuple[GroupKey, ...]]:
        """What siblings share; they differ only in narrowing values, and in the windows they
        group by (each row of a list has the rolling windows of its own days)."""
        return (_windowless(self.question), self.filter, self.timezone, self.narrow_keys)

    def own_rows(self, rows: list[Row]) -> list[Row]:
        """Of the rows of its siblings' windows too, those of this ask's own windows."""
        for position, key in enumerate(self.question.group_by):
            if isinstance(key, Windows):
                mine = set(key.bounds)
                return [r for r in rows if (r.keys[position], _window_end(r)) in mine]
        return rows


def _windowless(question: Question) -> Question:
    """The question with its windows' bounds left out."""
    keys = tuple(Windows(()) if isinstance(k, Windows) else k for k in question.group_by)
    return replace(question, group_by=keys)


def _all_windows(siblings: list[Ask]) -> Question:
    """The siblings' question, grouped by every window any of them asks for."""
    first = siblings[0].question
    bounds = {
        pair
        for ask in siblings
        for key in ask.question.group_by
        if isinstance(key, Windows)
        for pair in key.bounds
    }
    keys = tuple(
        Windows(tuple(sorted(bounds))) if isinstance(k, Windows) else k for k in first.group_by
    )
    return replace(first, group_by=keys)


def _window_end(row: Row) -> object:
    return (row.fields or {}).get(Windows.END_FIELD)


class UsageLoader(DataLoader[Ask, list[Row]]):
    """Answers Asks; each group of siblings costs one statement, whatever its size."""

    def __init__(
        self, engine: AsyncEngine, bound: Bound, *, use_rollups: bool, horizon: Horizon
    ) -> None:
        super().__init__(cache=True)
        self.engine = engine
        self.bound = bound
        self.use_rollups = use_rollups
        self.horizon = horizon

    async def batch_load_fn(self, asks: list[Ask]) -> list[list[Row]]:
        groups: dict[tuple[object, ...], list[Ask]] = defaultdict(list)
        for ask in asks:
            groups[ask.batch].append(ask)

        async def answer(siblings: list[Ask]) -> dict[Ask, list[Row]]:
            first = siblings[0]
            scopes = list(dict.fromkeys(a.narrow_values for a in siblings))
            compiled = statements.compiled(
                _all_windows(siblings),
                self.bound.within(first.filter),
                first.timezone,
                first.narrow_keys,
                scopes,
                use_rollups=self.use_rollups,
                compacted=self.horizon.compacted,
            )
            self.horizon.check(compiled)
            rows = await run(self.engine, compiled, scopes)
            by_scope = dict(zip(scopes, rows, strict=True))
            return {a: a.own_rows(by_scope[a.narrow_values]) for a in siblings}

        answers: dict[Ask, list[Row]] = {}
        for part in await asyncio.gather(*(answer(group) for group in groups.values())):
            answers.update(part)
        return [answers[ask] for ask in asks]


class ProfileLoader(DataLoader[tuple[str, tuple[str, ...] | None], Profile | None]):
    """Users' profiles by (user id, apps in scope): one statement per batch."""

    def __init__(self, engine: AsyncEngine, bound: Bound) -> None:
        super().__init__(cache=True)
        self.engine = engine
        self.bound = bound

    async def batch_load_fn(
        self, keys: list[tuple[str, tuple[str, ...] | None]]
    ) -> list[Profile | None]:
        found = await user_profiles(self.engine, keys, self.bound)
        return [found.get(key) for key in keys]


class FirstMessageLoader(DataLoader[ChatOfUsers, str | None]):
    """Each chat's first user message preview, by (app, chat, whose messages): one statement
    per batch."""

    def __init__(self, engine: AsyncEngine, bound: Bound) -> None:
        super().__init__(cache=True)
        self.engine = engine
        self.bound = bound

    async def batch_load_fn(self, keys: list[ChatOfUsers]) -> list[str | None]:
        found = await first_user_messages(self.engine, keys, self.bound)
        return [found.get(key) for key in keys]
