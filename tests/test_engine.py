from __future__ import annotations

import pytest

from usageql.db.engine import asyncpg_url, safe_url


@pytest.mark.parametrize(
    "url",
    [
        "postgres://u:secret@db:5432/usage",
        "postgresql://u:secret@db:5432/usage",
        "postgresql+asyncpg://u:secret@db:5432/usage",
    ],
)
def test_every_postgres_spelling_becomes_asyncpg(url: str) -> None:
    parsed = asyncpg_url(url)
    assert parsed.drivername == "postgresql+asyncpg"
    assert (parsed.host, parsed.port, parsed.database, parsed.password) == (
        "db",
        5432,
        "usage",
        "secret",
    )


def test_sslmode_is_translated_for_asyncpg() -> None:
    assert dict(asyncpg_url("postgresql://db/usage?sslmode=require").query) == {"ssl": "require"}


def test_safe_url_hides_the_password() -> None:
    assert safe_url("postgresql://u:secret@db/usage") == "postgresql://u:***@db/usage"
