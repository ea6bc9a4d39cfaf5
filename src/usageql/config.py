"""Settings read once from the environment and passed down explicitly."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, TypeVar

LogFormat = Literal["json", "text"]
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


class SettingsError(ValueError):
    """An environment variable holds a value usageql cannot use."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything usageql reads from its environment; build with `Settings.from_env()`."""

    database_url: str | None = None
    database_read_url: str | None = None  # a read replica for queries (writes use database_url)
    data_dir: Path = field(default_factory=lambda: _default_data_dir(os.environ))
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"
    log_format: LogFormat = "text"
    migrate_on_start: bool = True
    pool_size: int = 10
    graphiql: bool = True
    max_body_bytes: int = 32 * 1024 * 1024
    max_batch_records: int = 10_000
    content_preview_chars: int = 200
    workers: int = 1
    auth: bool = True  # USAGEQL_AUTH=disabled turns API keys off, for local use only
    max_query_depth: int = 15
    max_aliases: int = 50
    max_tokens: int = 5000
    # Rows a query may return, lists multiplied through nesting: twice the costliest example
    # dashboard over a year (LiteLLM's daily, weekly and monthly users of 250 tags: 108,000);
    # 591,780 day buckets of 60 chats took 16 s and 37 MB.
    max_query_cost: int = 250_000
    # A /graphql request's body (or GET query string): a full batch of 10,000 realistic records
    # (the demo's, about 680 bytes each in GraphQL variables: 6.8 MB) with room to spare.
    max_graphql_bytes: int = 16 * 1024 * 1024
    max_response_bytes: int = 16 * 1024 * 1024  # a /graphql answer; larger is refused
    introspection: bool = True
    statement_timeout_ms: int = 30_000  # 0: none
    # PostgreSQL's price of a page read out of order, for this server's statements: the rollups
    # they read are small and cached, and PostgreSQL's default of 4 (a disk seek) made it scan
    # whole rollup tables instead of reading a period through their keys (docs/scaling.md).
    random_page_cost: float = 1.1
    auth_cache_seconds: int = 5  # how long a process trusts a checked key (revocation delay)
    # Requests one key may have in progress in one process: 4x the 8 clients bench/queries.py
    # runs on one key, 5x a browser's 6 connections per host, and above the 2 x pool_size
    # statements that can run at once, so only waiting beyond that is refused.
    max_concurrent_per_key: int = 32
    rollups: bool = True  # answer from the hourly rollups when they answer exactly
    # How often each server process adds the UTC days that have ended to the daily and monthly
    # rollups (usageql.ingest.compact); 0: never, `usageql compact` does it (from cron, say).
    compact_seconds: int = 60
    # Set by `usageql serve --workers` for its worker processes: the embedded server the parent
    # process runs, which the workers use without starting or stopping it.
    embedded_url: str | None = None

    @property
    def embedded(self) -> bool:
        """True when usageql runs its own PostgreSQL in `data_dir`."""
        return self.database_url is None

    def to_env(self) -> dict[str, str]:
        """The environment that `from_env` reads back as these settings (for worker processes)."""
        env = {
            "USAGEQL_DATA_DIR": str(self.data_dir),
            "USAGEQL_HOST": self.host,
            "USAGEQL_PORT": str(self.port),
            "USAGEQL_LOG_LEVEL": self.log_level,
            "USAGEQL_LOG_FORMAT": self.log_format,
            "USAGEQL_MIGRATE_ON_START": str(self.migrate_on_start).lower(),
            "USAGEQL_DB_POOL_SIZE": str(self.pool_size),
            "USAGEQL_GRAPHIQL": str(self.graphiql).lower(),
            "USAGEQL_MAX_BODY_BYTES": str(self.max_body_bytes),
            "USAGEQL_MAX_BATCH_RECORDS": str(self.max_batch_records),
            "USAGEQL_CONTENT_PREVIEW_CHARS": str(self.content_preview_chars),
            "USAGEQL_WORKERS": str(self.workers),
            "USAGEQL_AUTH": "enabled" if self.auth else "disabled",
            "USAGEQL_AUTH_CACHE_SECONDS": str(self.auth_cache_seconds),
            "USAGEQL_MAX_CONCURRENT_PER_KEY": str(self.max_concurrent_per_key),
            "USAGEQL_MAX_QUERY_DEPTH": str(self.max_query_depth),
            "USAGEQL_MAX_ALIASES": str(self.max_aliases),
            "USAGEQL_MAX_TOKENS": str(self.max_tokens),
            "USAGEQL_MAX_QUERY_COST": str(self.max_query_cost),
            "USAGEQL_MAX_GRAPHQL_BYTES": str(self.max_graphql_bytes),
            "USAGEQL_MAX_RESPONSE_BYTES": str(self.max_response_bytes),
            "USAGEQL_INTROSPECTION": str(self.introspection).lower(),
            "USAGEQL_STATEMENT_TIMEOUT_MS": str(self.statement_timeout_ms),
            "USAGEQL_RANDOM_PAGE_COST": repr(self.random_page_cost),
            "USAGEQL_ROLLUPS": str(self.rollups).lower(),
            "USAGEQL_COMPACT_SECONDS": str(self.compact_seconds),
        }
        if self.database_url is not None:
            env["DATABASE_URL"] = self.database_url
        if self.database_read_url is not None:
            env["DATABASE_READ_URL"] = self.database_read_url
        if self.embedded_url is not None:
            env["USAGEQL_EMBEDDED_URL"] = self.embedded_url
        return env

    @property
    def embedded_pgdata(self) -> Path:
        """Where the embedded PostgreSQL keeps its files."""
        return self.data_dir / "postgres"

    def with_changes(self, **changes: object) -> Settings:
        """A copy with some fields replaced (for command-line flags and tests)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read settings from `environ` (default: the process environment)."""
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            database_url=_database_url(env),
            database_read_url=_database_url(env, "DATABASE_READ_URL"),
            data_dir=_path(env, "USAGEQL_DATA_DIR", _default_data_dir(env)),
            host=env.get("USAGEQL_HOST", defaults.host).strip() or defaults.host,
            port=_int(env, "USAGEQL_PORT", defaults.port, low=1, high=65535),
            log_level=_choice(env, "USAGEQL_LOG_LEVEL", defaults.log_level, LOG_LEVELS),
            log_format=_log_format(env),
            migrate_on_start=_bool(env, "USAGEQL_MIGRATE_ON_START", defaults.migrate_on_start),
            pool_size=_int(env, "USAGEQL_DB_POOL_SIZE", defaults.pool_size, low=1, high=1000),
            graphiql=_bool(env, "USAGEQL_GRAPHIQL", defaults.graphiql),
            max_body_bytes=_int(
                env, "USAGEQL_MAX_BODY_BYTES", defaults.max_body_bytes, low=1024, high=2**31
            ),
            max_batch_records=_int(
                env, "USAGEQL_MAX_BATCH_RECORDS", defaults.max_batch_records, low=1, high=1_000_000
            ),
            content_preview_chars=_int(
                env,
                "USAGEQL_CONTENT_PREVIEW_CHARS",
                defaults.content_preview_chars,
                low=0,
                high=100_000,
            ),
            workers=_int(env, "USAGEQL_WORKERS", defaults.workers, low=1, high=64),
            auth=_choice(env, "USAGEQL_AUTH", "enabled", ("enabled", "disabled")) == "enabled",
            auth_cache_seconds=_int(
                env, "USAGEQL_AUTH_CACHE_SECONDS", defaults.auth_cache_seconds, low=0, high=3600
            ),
            max_concurrent_per_key=_int(
                env,
                "USAGEQL_MAX_CONCURRENT_PER_KEY",
                defaults.max_concurrent_per_key,
                low=1,
                high=100_000,
            ),
            max_query_depth=_int(
                env, "USAGEQL_MAX_QUERY_DEPTH", defaults.max_query_depth, low=2, high=100
            ),
            max_aliases=_int(env, "USAGEQL_MAX_ALIASES", defaults.max_aliases, low=1, high=10_000),
            max_tokens=_int(env, "USAGEQL_MAX_TOKENS", defaults.max_tokens, low=100, high=10**6),
            max_query_cost=_int(
                env, "USAGEQL_MAX_QUERY_COST", defaults.max_query_cost, low=1, high=10**9
            ),
            max_graphql_bytes=_int(
                env, "USAGEQL_MAX_GRAPHQL_BYTES", defaults.max_graphql_bytes, low=1024, high=2**31
            ),
            max_response_bytes=_int(
                env,
                "USAGEQL_MAX_RESPONSE_BYTES",
                defaults.max_response_bytes,
                low=1024,
                high=2**31,
            ),
            introspection=_bool(env, "USAGEQL_INTROSPECTION", defaults.introspection),
            rollups=_bool(env, "USAGEQL_ROLLUPS", defaults.rollups),
            compact_seconds=_int(
                env, "USAGEQL_COMPACT_SECONDS", defaults.compact_seconds, low=0, high=86_400
            ),
            statement_timeout_ms=_int(
                env,
                "USAGEQL_STATEMENT_TIMEOUT_MS",
                defaults.statement_timeout_ms,
                low=0,
                high=86_400_000,
            ),
            random_page_cost=_number(
                env, "USAGEQL_RANDOM_PAGE_COST", defaults.random_page_cost, low=0.01, high=1000
            ),
            embedded_url=env.get("USAGEQL_EMBEDDED_URL", "").strip() or None,
        )


def _database_url(env: Mapping[str, str], name: str = "DATABASE_URL") -> str | None:
    url = env.get(name, "").strip()
    if not url:
        return None
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in {"postgres", "postgresql", "postgresql+asyncpg"}:
        raise SettingsError(
            f"{name}: expected a postgresql:// URL, got scheme {scheme or 'none'!r}"
        )
    return url


def _default_data_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME", "").strip()
    root = Path(base) if base else Path(env.get("HOME", "~")).expanduser() / ".local" / "share"
    return root / "usageql"


def _path(env: Mapping[str, str], name: str, default: Path) -> Path:
    raw = env.get(name, "").strip()
    return Path(raw).expanduser().resolve() if raw else default.expanduser().resolve()


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    return _bounded(env, name, default, (int, "a whole number"), low=low, high=high)


def _number(env: Mapping[str, str], name: str, default: float, *, low: float, high: float) -> float:
    return _bounded(env, name, default, (float, "a number"), low=low, high=high)


Number = TypeVar("Number", int, float)


def _bounded(
    env: Mapping[str, str],
    name: str,
    default: Number,
    kind: tuple[Callable[[str], Number], str],
    *,
    low: Number,
    high: Number,
) -> Number:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    parse, expected = kind
    try:
        value = parse(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected {expected}, got {raw!r}") from None
    if not low <= value <= high:  # NaN too
        raise SettingsError(f"{name}: must be between {low} and {high}, got {raw}")
    return value


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise SettingsError(f"{name}: expected true or false, got {env[name]!r}")


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in choices:
        raise SettingsError(f"{name}: expected one of {', '.join(choices)}, got {env[name]!r}")
    return raw


def _log_format(env: Mapping[str, str]) -> LogFormat:
    value = _choice(env, "USAGEQL_LOG_FORMAT", "text", ("json", "text"))
    return "json" if value == "json" else "text"
