"""Which roles may use which fields."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from usageql.auth import Role
from usageql.graphql.context import Info

FORBIDDEN = {"code": "FORBIDDEN"}


class CanRead(BasePermission):
    message = "this API key may not read usage: use a reader or admin key"
    error_extensions = FORBIDDEN

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = info.context.principal
        return principal is not None and principal.role.reads


class CanWrite(BasePermission):
    message = "this API key may not write records: use an ingest or admin key"
    error_extensions = FORBIDDEN

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = info.context.principal
        return principal is not None and principal.role.writes


class IsAdmin(BasePermission):
    message = "only an admin key may change prices"
    error_extensions = FORBIDDEN

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = info.context.principal
        return principal is not None and principal.role is Role.ADMIN
