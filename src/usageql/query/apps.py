"""The app catalog: which tenants a caller's bound reaches, and when their events begin and end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, ScalarSelect, any_, exists, func, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine

from usageql.db.tables import apps, messages, users
from usageql.query.bound import Bound
from usageql.query.compile import texts
from usageql.query.execute import reading


@dataclass(frozen=True, slots=True)
class AppRow:
    """An app the bound reaches, and (when asked) its first and last message within it."""

    app_id: str
    created_at: datetime
    first_event_at: datetime | None = None
    last_event_at: datetime | None = None


async def visible_apps(engine: AsyncEngine, bound: Bound, *, spans: bool = False) -> list[AppRow]:
    """The apps `bound` reaches, by id: its apps, and for a key bound to users only the apps
    where those users appear. With `spans`, each app's first and last message among those the
    bound reaches: two index probes per app on (app_id, ts), in the same statement."""

    def edge(value: ColumnElement[datetime]) -> ScalarSelect[datetime]:
        probe = select(value).where(messages.c.app_id == apps.c.app_id)
        if bound.users is not None:
            probe = probe.where(messages.c.user_id == any_(texts(bound.users)))
        return probe.scalar_subquery()

    no_time = literal(None, apps.c.created_at.type)
    statement = select(
        apps.c.app_id,
        apps.c.created_at,
        (edge(func.min(messages.c.ts)) if spans else no_time).label("first_event_at"),
        (edge(func.max(messages.c.ts)) if spans else no_time).label("last_event_at"),
    ).order_by(apps.c.app_id)
    if bound.apps is not None:
        statement = statement.where(apps.c.app_id == any_(texts(bound.apps)))
    if bound.users is not None:
        present = exists().where(
            users.c.app_id == apps.c.app_id, users.c.user_id == any_(texts(bound.users))
        )
        statement = statement.where(present)
    async with reading(engine) as connection:
        rows = (await connection.execute(statement)).all()
    return [AppRow(*row) for row in rows]
