"""API keys: who is calling, in which role, over which apps and users.

A key reads `uq_<key id>_<secret>`. Only a SHA-256 of the secret is stored (the secret has 256 bits
of entropy, so no slow hash is needed); the key id finds the row. Verified keys are remembered by
each process for a few seconds, so requests do not pay for a lookup; a revoked key stops working
within that time.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from usageql.db.tables import ANY_APP, api_keys

_KEY = re.compile(r"uq_([a-z0-9]{12})_([A-Za-z0-9_-]{43})")


class Role(enum.Enum):
    """What a key may do."""

    ADMIN = "admin"  # everything: queries, ingestion, prices
    READER = "reader"  # queries
    INGEST = "ingest"  # ingestion

    @property
    def reads(self) -> bool:
        return self in {Role.ADMIN, Role.READER}

    @property
    def writes(self) -> bool:
        return self in {Role.ADMIN, Role.INGEST}


class AuthError(Exception):
    """The request carries no usable key; the message says what to send instead."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: its role, and the apps and users it is bound to (None: all)."""

    role: Role
    apps: tuple[str, ...] | None = None
    users: tuple[str, ...] | None = None
    key_id: str | None = None  # None when authentication is disabled

    def may_write_app(self, app: str) -> bool:
        """True when records of `app` are within the key's scope."""
        return self.apps is None or app in self.apps


UNRESTRICTED = Principal(role=Role.ADMIN)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A key as listings show it (never its secret)."""

    key_id: str
    role: Role
    name: str | None
    apps: tuple[str, ...] | None
    users: tuple[str, ...] | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_key(
    engine: AsyncEngine,
    role: Role,
    *,
    apps: Sequence[str] = (),
    users: Sequence[str] = (),
    name: str | None = None,
) -> tuple[str, KeyInfo]:
    """A new key: (the full key, to show once; what is stored of it)."""
    key_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
    secret = secrets.token_urlsafe(32)
    scope_apps = tuple(dict.fromkeys(apps)) or None
    scope_users = tuple(dict.fromkeys(users)) or None
    owner = scope_apps[0] if scope_apps is not None and len(scope_apps) == 1 else ANY_APP
    async with engine.begin() as connection:
        row = (
            await connection.execute(
                api_keys.insert()
                .values(
                    app_id=owner,
                    key_id=key_id,
                    secret_hash=_digest(secret),
                    role=role.value,
                    name=name,
                    scope_apps=None if scope_apps is None else list(scope_apps),
                    scope_users=None if scope_users is None else list(scope_users),
                )
                .returning(api_keys)
            )
        ).one()
    return f"uq_{key_id}_{secret}", _info(row)


async def list_keys(engine: AsyncEngine, *, include_revoked: bool = False) -> list[KeyInfo]:
    """Every key, newest first."""
    query = select(api_keys).order_by(api_keys.c.created_at.desc(), api_keys.c.key_id)
    if not include_revoked:
        query = query.where(api_keys.c.revoked_at.is_(None))
    async with engine.connect() as connection:
        return [_info(row) for row in (await connection.execute(query)).all()]


async def revoke_key(engine: AsyncEngine, key_id: str) -> bool:
    """Revoke a key by its id (the part after `uq_`); False when no live key has that id."""
    async with engine.begin() as connection:
        result = await connection.execute(
            update(api_keys)
            .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=func.now())
            .returning(api_keys.c.key_id)
        )
        return result.first() is not None


def _info(row: Any) -> KeyInfo:
    return KeyInfo(
        key_id=row.key_id,
        role=Role(row.role),
        name=row.name,
        apps=None if row.scope_apps is None else tuple(row.scope_apps),
        users=None if row.scope_users is None else tuple(row.scope_users),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


@dataclass
class KeyCheck:
    """Verifies `Authorization: Bearer` keys, remembering answers for `ttl` seconds."""

    engine: AsyncEngine
    ttl: float = 5.0
    _known: dict[str, tuple[float, Principal | None]] = field(default_factory=dict)

    async def principal(self, authorization: str | None) -> Principal:
        """The caller for an Authorization header, or AuthError saying what is wrong."""
        if not authorization:
            raise AuthError(
                "missing API key: send the header `Authorization: Bearer uq_...` (create a key"
                " with `usageql keys create --role reader`)"
            )
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("the Authorization header must be `Bearer uq_...`")
        token = token.strip()
        match = _KEY.fullmatch(token)
        if match is None:
            raise AuthError("malformed API key: usageql keys look like uq_<12 chars>_<43 chars>")
        now = time.monotonic()
        remembered = self._known.get(token)
        if remembered is not None and now - remembered[0] < self.ttl:
            principal = remembered[1]
        else:
            principal = await self._look_up(*match.groups())
            self._known[token] = (now, principal)
        if principal is None:
            raise AuthError("unknown or revoked API key")
        return principal

    async def _look_up(self, key_id: str, secret: str) -> Principal | None:
        # One statement both finds a live key with this secret and records that it was used.
        async with self.engine.begin() as connection:
            row = (
                await connection.execute(
                    update(api_keys)
                    .where(
                        api_keys.c.key_id == key_id,
                        api_keys.c.secret_hash == _digest(secret),
                        api_keys.c.revoked_at.is_(None),
                    )
                    .values(last_used_at=func.now())
                    .returning(api_keys)
                )
            ).first()
        if row is None:
            return None
        info = _info(row)
        return Principal(role=info.role, apps=info.apps, users=info.users, key_id=info.key_id)


async def request_principal(authorization: str | None, check: KeyCheck | None) -> Principal:
    """The caller of a request; with authentication disabled (check None), unrestricted."""
    if check is None:
        return UNRESTRICTED
    return await check.principal(authorization)
