"""`Query.apps`: the tenants the caller's key reaches, and the size of its data in each."""

from __future__ import annotations

from datetime import datetime

import strawberry

from usageql.graphql.context import Info
from usageql.graphql.metrics import selected
from usageql.graphql.permissions import CanRead
from usageql.graphql.scalars import BigInt
from usageql.query.model import Metric


@strawberry.type(
    description="An app (tenant): every event belongs to exactly one. Its figures count only "
    "the events the caller's key may see."
)
class App:
    id: strawberry.ID = strawberry.field(description="The app's id, as events name it.")
    created_at: datetime = strawberry.field(description="When usageql first saw the app.")
    messages: BigInt = strawberry.field(description="Messages stored for the app (all roles).")
    users: BigInt = strawberry.field(description="Distinct users with a message in the app.")
    chats: BigInt = strawberry.field(description="Distinct chats with a message in the app.")
    first_event_at: datetime | None = strawberry.field(description="The earliest message's time.")
    last_event_at: datetime | None = strawberry.field(description="The latest message's time.")


_TOTALS = ("messages", "users", "chats")
_SPANS = ("firstEventAt", "lastEventAt")


@strawberry.type
class AppsQuery:
    @strawberry.field(
        description="The apps the caller's key reaches (for a key bound to users, the apps where "
        "they appear), ordered by id, with figures over the events the key may see.",
        permission_classes=[CanRead],
    )
    async def apps(self, info: Info) -> list[App]:
        selections = info.selected_fields[0].selections
        found = await info.context.reads.apps(
            totals=any(selected(selections, name) for name in _TOTALS),
            spans=any(selected(selections, name) for name in _SPANS),
        )
        return [
            App(
                id=strawberry.ID(entry.app.app_id),
                created_at=entry.app.created_at,
                messages=BigInt(entry.totals.get(Metric.MESSAGES, 0)),
                users=BigInt(entry.totals.get(Metric.USERS, 0)),
                chats=BigInt(entry.totals.get(Metric.CHATS, 0)),
                first_event_at=entry.app.first_event_at,
                last_event_at=entry.app.last_event_at,
            )
            for entry in found
        ]
