"""Per-request dataloaders: sibling scopes asking the same question become one SQL statement."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass

from aiodataloader import DataLoader
from sqlalchemy.ext.asyncio import AsyncEngine

from usageql.query.compile import compile_question
from usageql.query.execute import KeyValue, Profile, Row, run, user_profiles
from usageql.query.model import Filter, GroupKey, Question, Scope


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
        """What siblings share; they differ only in narrowing values."""
        return (self.question, self.filter, self.timezone, self.narrow_keys)


class UsageLoader(DataLoader[Ask, list[Row]]):
    """Answers Asks; each group of siblings costs one statement, whatever its size."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(cache=True)
        self.engine = engine

    async def batch_load_fn(self, asks: list[Ask]) -> list[list[Row]]:
        groups: dict[tuple[object, ...], list[Ask]] = defaultdict(list)
        for ask in asks:
            groups[ask.batch].append(ask)

        async def answer(siblings: list[Ask]) -> dict[Ask, list[Row]]:
            first = siblings[0]
            scopes = list(dict.fromkeys(a.narrow_values for a in siblings))
            compiled = compile_question(
                first.question, first.filter, first.timezone, first.narrow_keys, scopes
            )
            rows = await run(self.engine, compiled, scopes)
            by_scope = dict(zip(scopes, rows, strict=True))
            return {a: by_scope[a.narrow_values] for a in siblings}

        answers: dict[Ask, list[Row]] = {}
        for part in await asyncio.gather(*(answer(group) for group in groups.values())):
            answers.update(part)
        return [answers[ask] for ask in asks]


class ProfileLoader(DataLoader[tuple[str, tuple[str, ...] | None], Profile | None]):
    """Users' profiles by (user id, apps in scope); one statement per set of apps."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(cache=True)
        self.engine = engine

    async def batch_load_fn(
        self, keys: list[tuple[str, tuple[str, ...] | None]]
    ) -> list[Profile | None]:
        by_apps: dict[tuple[str, ...] | None, list[str]] = defaultdict(list)
        for user_id, apps in keys:
            by_apps[apps].append(user_id)
        found: dict[tuple[str, tuple[str, ...] | None], Profile] = {}
        parts = await asyncio.gather(
            *(user_profiles(self.engine, ids, apps) for apps, ids in by_apps.items())
        )
        for apps, profiles in zip(by_apps, parts, strict=True):
            found.update({(user_id, apps): p for user_id, p in profiles.items()})
        return [found.get(key) for key in keys]
