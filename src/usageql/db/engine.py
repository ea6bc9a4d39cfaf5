"""Turning a PostgreSQL URL into an async SQLAlchemy engine on asyncpg."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

DRIVER = "postgresql+asyncpg"


def asyncpg_url(url: str) -> URL:
    """Accept postgres://, postgresql:// or postgresql+asyncpg:// and return an asyncpg URL.

    libpq's `sslmode` is translated to asyncpg's `ssl`, which takes the same values.
    """
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    query = dict(parsed.query)
    if "sslmode" in query:
        query["ssl"] = query.pop("sslmode")
    return parsed.set(drivername=DRIVER, query=query)


def safe_url(url: str | URL) -> str:
    """The URL with its password hidden, for logs and messages."""
    parsed = url if isinstance(url, URL) else make_url(url)
    return parsed.render_as_string(hide_password=True)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An engine whose connections identify themselves to PostgreSQL as usageql."""
    return create_async_engine(
        asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"server_settings": {"application_name": "usageql"}},
    )
