"""Every read a GraphQL request makes, narrowed to its caller's bound.

Resolvers read only through `Reads` (the request context holds one): usage questions, user
profiles, first-message previews, the app catalog and prices all take the bound here, so a
field added later reaches exactly what the key may see (tests/hostile/test_scope.py walks the
schema).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from usageql.db.tables import ANY_APP
from usageql.graphql.loaders import Ask, FirstMessageLoader, ProfileLoader, UsageLoader
from usageql.ingest.price_table import ListedPrice, list_prices
from usageql.query import model
from usageql.query.apps import AppRow, visible_apps
from usageql.query.bound import Bound
from usageql.query.execute import Row, reading
from usageql.query.horizon import Horizon


@dataclass(frozen=True, slots=True)
class AppTotals:
    """An app the caller may see, with its totals narrowed to the caller's bound."""

    app: AppRow
    totals: dict[model.Metric, int]


APP_TOTALS = frozenset({model.Metric.MESSAGES, model.Metric.USERS, model.Metric.CHATS})


class Reads:
    """The reads of one request, within `bound`."""

    def __init__(
        self, engine: AsyncEngine, bound: Bound, *, use_rollups: bool, horizon: Horizon
    ) -> None:
        self.engine = engine
        self.bound = bound
        self.usage = UsageLoader(engine, bound, use_rollups=use_rollups, horizon=horizon)
        self.profiles = ProfileLoader(engine, bound)
        self.first_messages = FirstMessageLoader(engine, bound)

    def scope(self, filter: model.Filter | None, timezone: str) -> model.Scope:
        """The root scope of a usage question: the bound, narrowed by the caller's filter."""
        root = self.bound.filter() if filter is None else self.bound.within(filter)
        return model.Scope(filter=root, timezone=timezone)

    async def apps(self, *, totals: bool, spans: bool) -> list[AppTotals]:
        """The apps the bound reaches (one statement, with event spans when asked for), and
        totals of the bound's events (one more statement, when asked for)."""
        rows = await visible_apps(self.engine, self.bound, spans=spans)
        ids = [row.app_id for row in rows]
        counted: dict[str, dict[model.Metric, int]] = {}
        if totals and ids:
            question = model.Question(metrics=APP_TOTALS, group_by=(model.Dimension.APP,))
            scope = self.scope(model.Filter(values=((model.Dimension.APP, tuple(ids)),)), "UTC")
            answer: list[Row] = await self.usage.load(Ask.of(question, scope))
            counted = {str(row.keys[0]): row.values for row in answer}
        return [AppTotals(app=row, totals=counted.get(row.app_id, {})) for row in rows]

    async def prices(self, *, builtin: bool) -> list[ListedPrice]:
        """Prices in force that the bound may read: those for every app, and its apps' own."""
        async with reading(self.engine) as connection:
            listed = await list_prices(connection, builtin=builtin)
        if self.bound.unbound:
            return listed
        apps = self.bound.apps
        if apps is None:  # bound to users only: the apps where they appear
            apps = tuple(row.app_id for row in await visible_apps(self.engine, self.bound))
        return [item for item in listed if item.entry.app in {ANY_APP, *apps}]
