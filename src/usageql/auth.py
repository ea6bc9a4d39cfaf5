"""API keys: who is calling, in which role, over which apps and users.

A key reads `uq_<key id>_<secret>`. Only a SHA-256 of the secret is stored (the secret has 256 bits
of entropy, so no slow hash is needed); the key id finds the row. Verified keys are remembered by
each process for a few seconds, so requests do not pay for a lookup; a revoked key stops working
within that time. Each process also limits how many requests one key has in progress, so one
client cannot take every database connection.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from usageql.db.outage import KEY_CHECK_UNAVAILABLE, database_call
from usageql.db.tables import ANY_APP, api_keys
from usageql.query.bound import Bound

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
    """The request carries no usable key; the message says what is wrong with what was sent.
    Which role would do depends on the endpoint, so each endpoint adds its own hint."""


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

    @property
    def bound(self) -> Bound:
        """The apps and users every read of this caller is narrowed to."""
        return Bound(apps=self.apps, users=self.users)


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


async def live_key(engine: AsyncEngine, key: str) -> KeyInfo | None:
    """What is stored of a full key (`uq_...`) while it works; None when it is malformed,
    unknown or revoked. Unlike a request's check, it does not count as a use of the key."""
    match = _KEY.fullmatch(key)
    if match is None:
        return None
    key_id, secret = match.groups()
    query = select(api_keys).where(
        api_keys.c.key_id == key_id,
        api_keys.c.secret_hash == _digest(secret),
        api_keys.c.revoked_at.is_(None),
    )
    async with engine.connect() as connection:
        row = (await connection.execute(query)).first()
    return None if row is None else _info(row)


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


RETRY_AFTER_BUSY_SECONDS = 1  # requests in progress usually finish within a second
CACHE_SIZE = 10_000  # answers remembered, of each kind (known keys; refused tokens)


class TooManyRequestsError(Exception):
    """The key already has as many requests in progress as one process runs for it at once."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"this API key already has {limit} requests in progress, the most this server runs"
            f" at once for one key (USAGEQL_MAX_CONCURRENT_PER_KEY): retry after"
            f" {RETRY_AFTER_BUSY_SECONDS} s, or send fewer requests at a time"
        )
        self.limit = limit
        self.retry_after = RETRY_AFTER_BUSY_SECONDS


T = TypeVar("T")


class _Recent(Generic[T]):
    """The `size` most recently stored answers, each trusted for `ttl` seconds: bounded, so no
    stream of distinct tokens can grow it."""

    def __init__(self, size: int, ttl: float) -> None:
        self.size = size
        self.ttl = ttl
        self._entries: OrderedDict[str, tuple[float, T]] = OrderedDict()

    def get(self, key: str, now: float) -> T | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now - entry[0] >= self.ttl:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: str, value: T, now: float) -> None:
        self._entries[key] = (now, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass
class KeyCheck:
    """Verifies `Authorization: Bearer` keys, remembering answers for `ttl` seconds, and holds
    each key to `max_concurrent` requests in progress.

    Known keys and refused tokens are remembered apart, each up to `cache_size`, so a flood of
    made-up tokens cannot push real keys out. A lookup only reads; a real key's `last_used_at`
    is written at most once per `ttl` per key, so an unknown token never writes.
    """

    engine: AsyncEngine
    ttl: float = 5.0
    max_concurrent: int = 32
    cache_size: int = CACHE_SIZE
    _known: _Recent[Principal] = field(init=False)
    _refused: _Recent[bool] = field(init=False)
    _touched: _Recent[bool] = field(init=False)  # key ids whose last_used_at was just written
    _active: dict[str, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._known = _Recent(self.cache_size, self.ttl)
        self._refused = _Recent(self.cache_size, self.ttl)
        self._touched = _Recent(self.cache_size, self.ttl)

    @property
    def remembered(self) -> int:
        """How many answers (known keys and refused tokens) are remembered now."""
        return len(self._known) + len(self._refused)

    async def principal(self, authorization: str | None) -> Principal:
        """The caller for an Authorization header; AuthError saying what is wrong, or
        Unavailable when the database cannot be asked."""
        if not authorization:
            raise AuthError("missing API key: send the header `Authorization: Bearer uq_...`")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("the Authorization header must be `Bearer uq_...`")
        token = token.strip()
        match = _KEY.fullmatch(token)
        if match is None:
            raise AuthError("malformed API key: usageql keys look like uq_<12 chars>_<43 chars>")
        now = time.monotonic()
        principal = self._known.get(token, now)
        if principal is None and self._refused.get(token, now) is None:
            with database_call(KEY_CHECK_UNAVAILABLE, timeouts=True):
                principal = await self._look_up(*match.groups())
            if principal is None:
                self._refused.put(token, True, now)
            else:
                self._known.put(token, principal, now)
        if principal is None:
            raise AuthError("unknown or revoked API key")
        return principal

    async def _look_up(self, key_id: str, secret: str) -> Principal | None:
        async with self.engine.connect() as connection:
            row = (
                await connection.execute(
                    select(api_keys, func.now().label("checked_at")).where(
                        api_keys.c.key_id == key_id,
                        api_keys.c.secret_hash == _digest(secret),
                        api_keys.c.revoked_at.is_(None),
                    )
                )
            ).first()
        if row is None:
            return None
        info = _info(row)
        window = timedelta(seconds=self.ttl)
        if info.last_used_at is None or row.checked_at - info.last_used_at >= window:
            await self._touch(info.key_id)
        return Principal(role=info.role, apps=info.apps, users=info.users, key_id=info.key_id)

    async def _touch(self, key_id: str) -> None:
        """Record that a real key was used, unless this process or another did so within the
        last `ttl` seconds (claimed before the write, so concurrent lookups write once; and
        checked again by the write, for other processes)."""
        now = time.monotonic()
        if self._touched.get(key_id, now) is not None:
            return
        self._touched.put(key_id, True, now)
        window = func.now() - timedelta(seconds=self.ttl)
        async with self.engine.begin() as connection:
            await connection.execute(
                update(api_keys)
                .where(
                    api_keys.c.key_id == key_id,
                    or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < window),
                )
                .values(last_used_at=func.now())
            )

    def admit(self, principal: Principal) -> AbstractContextManager[None]:
        """Take one of the key's `max_concurrent` places, released when the returned context
        exits (enter it at once); TooManyRequestsError when all are taken."""
        key_id = principal.key_id
        if key_id is None:
            return nullcontext()
        active = self._active.get(key_id, 0)
        if active >= self.max_concurrent:
            raise TooManyRequestsError(self.max_concurrent)
        self._active[key_id] = active + 1
        return self._holding(key_id)

    @contextmanager
    def _holding(self, key_id: str) -> Iterator[None]:
        try:
            yield
        finally:
            remaining = self._active[key_id] - 1
            if remaining:
                self._active[key_id] = remaining
            else:
                del self._active[key_id]


async def request_principal(authorization: str | None, check: KeyCheck | None) -> Principal:
    """The caller of a request; with authentication disabled (check None), unrestricted."""
    if check is None:
        return UNRESTRICTED
    return await check.principal(authorization)


def admit(check: KeyCheck | None, principal: Principal) -> AbstractContextManager[None]:
    """A place among the key's concurrent requests (see KeyCheck.admit); with authentication
    disabled, no limit."""
    return nullcontext() if check is None else check.admit(principal)
