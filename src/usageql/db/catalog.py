"""The app catalog: which tenants exist and how much data each holds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from usageql.db.tables import apps, chats, messages, users


@dataclass(frozen=True, slots=True)
class AppEntry:
    """One app and the size of its data."""

    app_id: str
    created_at: datetime
    messages: int
    users: int
    chats: int
    first_event_at: datetime | None
    last_event_at: datetime | None


async def list_apps(engine: AsyncEngine, only: Sequence[str] | None = None) -> list[AppEntry]:
    """Every app (or those in `only`), by id, with counts; one statement for any number."""
    per_app_messages = (
        select(
            messages.c.app_id,
            func.count().label("messages"),
            func.min(messages.c.ts).label("first_event_at"),
            func.max(messages.c.ts).label("last_event_at"),
        )
        .group_by(messages.c.app_id)
        .subquery()
    )
    per_app_users = (
        select(users.c.app_id, func.count().label("users")).group_by(users.c.app_id).subquery()
    )
    per_app_chats = (
        select(chats.c.app_id, func.count().label("chats")).group_by(chats.c.app_id).subquery()
    )
    statement = (
        select(
            apps.c.app_id,
            apps.c.created_at,
            func.coalesce(per_app_messages.c.messages, 0),
            func.coalesce(per_app_users.c.users, 0),
            func.coalesce(per_app_chats.c.chats, 0),
            per_app_messages.c.first_event_at,
            per_app_messages.c.last_event_at,
        )
        .outerjoin(per_app_messages, per_app_messages.c.app_id == apps.c.app_id)
        .outerjoin(per_app_users, per_app_users.c.app_id == apps.c.app_id)
        .outerjoin(per_app_chats, per_app_chats.c.app_id == apps.c.app_id)
        .order_by(apps.c.app_id)
    )
    if only is not None:
        statement = statement.where(apps.c.app_id.in_(list(only)))
    async with engine.connect() as connection:
        rows = (await connection.execute(statement)).all()
    return [AppEntry(*row) for row in rows]
