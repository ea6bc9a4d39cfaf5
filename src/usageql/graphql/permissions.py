"""Which roles may use which fields."""

from __future__ import annotations

from typing import Any, ClassVar

from strawberry.permission import BasePermission

from usageql.auth import Role
from usageql.graphql.context import Info


class _RoleCheck(BasePermission):
    """Lets a field run when the caller's role is one of `roles`."""

    roles: ClassVar[frozenset[Role]]

    def __init__(self) -> None:
        super().__init__()
        self.error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = info.context.principal
        return principal is not None and principal.role in self.roles


class CanRead(_RoleCheck):
    message = "this API key may not read usage: use a reader or admin key"
    roles = frozenset({Role.ADMIN, Role.READER})


class CanWrite(_RoleCheck):
    message = "this API key may not write records: use an ingest or admin key"
    roles = frozenset({Role.ADMIN, Role.INGEST})


class IsAdmin(_RoleCheck):
    message = "only an admin key may change prices"
    roles = frozenset({Role.ADMIN})


class IsOperator(_RoleCheck):
    """An admin key bound to no app and no user: the server's operator."""

    message = "only an admin key bound to no app and no user may read the server's details"
    roles = frozenset({Role.ADMIN})

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = info.context.principal
        return (
            super().has_permission(source, info)
            and principal is not None
            and (principal.bound.unbound)
        )
