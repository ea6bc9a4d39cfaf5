"""`Query.viewer`: the calling key, its role and scope."""

from __future__ import annotations

import strawberry

from usageql.graphql.context import Info


@strawberry.type(description="The API key making this request.")
class Viewer:
    role: str = strawberry.field(description="admin, reader or ingest.")
    apps: list[str] | None = strawberry.field(description="Apps the key is bound to; null: all.")
    users: list[str] | None = strawberry.field(description="Users the key is bound to; null: all.")
    key_id: str | None = strawberry.field(
        description="The key's public id; null when authentication is disabled."
    )


@strawberry.type
class ViewerQuery:
    @strawberry.field(description="Who is asking: the calling key's role and scope.")
    def viewer(self, info: Info) -> Viewer:
        principal = info.context.caller()
        return Viewer(
            role=principal.role.value,
            apps=None if principal.apps is None else list(principal.apps),
            users=None if principal.users is None else list(principal.users),
            key_id=principal.key_id,
        )
