"""`Query.apps`: the tenants and the size of their data."""

from __future__ import annotations

from datetime import datetime

import strawberry

from usageql.db.catalog import list_apps
from usageql.graphql.context import Info
from usageql.graphql.permissions import CanRead
from usageql.graphql.scalars import BigInt


@strawberry.type(description="An app (tenant): every event belongs to exactly one.")
class App:
    id: strawberry.ID = strawberry.field(description="The app's id, as events name it.")
    created_at: datetime = strawberry.field(description="When usageql first saw the app.")
    messages: BigInt = strawberry.field(description="Messages stored for the app (all roles).")
    users: BigInt = strawberry.field(description="Distinct users the app has reported.")
    chats: BigInt = strawberry.field(description="Distinct chats the app has reported.")
    first_event_at: datetime | None = strawberry.field(description="The earliest message's time.")
    last_event_at: datetime | None = strawberry.field(description="The latest message's time.")


@strawberry.type
class AppsQuery:
    @strawberry.field(
        description="Every app with data that the caller's key may see, ordered by id.",
        permission_classes=[CanRead],
    )
    async def apps(self, info: Info) -> list[App]:
        principal = info.context.principal
        only = None if principal is None else principal.apps
        entries = await list_apps(info.context.database.read_engine, only)
        return [
            App(
                id=strawberry.ID(entry.app_id),
                created_at=entry.created_at,
                messages=BigInt(entry.messages),
                users=BigInt(entry.users),
                chats=BigInt(entry.chats),
                first_event_at=entry.first_event_at,
                last_event_at=entry.last_event_at,
            )
            for entry in entries
        ]
