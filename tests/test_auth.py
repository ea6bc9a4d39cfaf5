"""API keys: creation, listing, revocation, and checking the Authorization header."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.sqlcount import count_statements
from usageql.auth import AuthError, KeyCheck, Principal, Role, create_key, list_keys, revoke_key
from usageql.cli import main
from usageql.db.tables import api_keys


async def test_a_key_is_shown_once_and_stored_as_a_hash(engine: AsyncEngine) -> None:
    key, info = await create_key(engine, Role.READER, apps=["shop"], name="dashboard")
    assert key.startswith(f"uq_{info.key_id}_")
    async with engine.connect() as connection:
        row = (await connection.execute(select(api_keys))).one()
    secret = key.split("_", 2)[2]
    assert secret not in row.secret_hash
    assert (row.app_id, row.role, row.scope_apps, row.scope_users) == (
        "shop", "reader", ["shop"], None,
    )  # fmt: skip
    assert [k.key_id for k in await list_keys(engine)] == [info.key_id]


async def test_headers_are_checked_and_answers_remembered(engine: AsyncEngine) -> None:
    key, info = await create_key(engine, Role.INGEST, apps=["a", "b"], users=["u1"])
    check = KeyCheck(engine, ttl=60)
    principal = await check.principal(f"Bearer {key}")
    assert principal == Principal(Role.INGEST, ("a", "b"), ("u1",), info.key_id)
    assert principal.may_write_app("a")
    assert not principal.may_write_app("c")
    assert not principal.role.reads
    assert principal.role.writes
    assert await revoke_key(engine, info.key_id)
    # Remembered for the TTL, then refused.
    assert await check.principal(f"bearer {key}") == principal
    with pytest.raises(AuthError, match="unknown or revoked API key"):
        await KeyCheck(engine, ttl=0).principal(f"Bearer {key}")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing API key: send the header `Authorization: Bearer uq_...`"),
        ("", "missing API key"),
        ("Basic dXNlcjpwYXNz", "the Authorization header must be `Bearer uq_...`"),
        ("Bearer ", "the Authorization header must be `Bearer uq_...`"),
        ("Bearer sk-abc", "malformed API key: usageql keys look like uq_<12 chars>_<43 chars>"),
        ("Bearer uq_abcdefghijkl_" + "x" * 43, "unknown or revoked API key"),
    ],
)
async def test_bad_headers_say_what_is_wrong(
    engine: AsyncEngine, header: str | None, message: str
) -> None:
    with pytest.raises(AuthError) as raised:
        await KeyCheck(engine, ttl=0).principal(header)
    assert str(raised.value).startswith(message)


async def test_a_right_id_with_a_wrong_secret_is_refused_and_not_touched(
    engine: AsyncEngine,
) -> None:
    key, _ = await create_key(engine, Role.ADMIN)
    forged = key[:-5] + ("AAAAA" if not key.endswith("AAAAA") else "BBBBB")
    with pytest.raises(AuthError, match="unknown or revoked"):
        await KeyCheck(engine, ttl=0).principal(f"Bearer {forged}")
    assert (await list_keys(engine))[0].last_used_at is None
    await KeyCheck(engine, ttl=0).principal(f"Bearer {key}")
    assert (await list_keys(engine))[0].last_used_at is not None


def test_the_keys_commands(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["keys", "create", "--role", "reader", "--app", "shop", "--name", "bi"]) == 0
    captured = capsys.readouterr()
    key = captured.out.strip()
    assert key.startswith("uq_")
    assert "created reader key" in captured.err
    assert "(apps shop)" in captured.err
    assert main(["keys", "list"]) == 0
    (listed,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (listed["role"], listed["apps"], listed["name"]) == ("reader", ["shop"], "bi")
    assert key.split("_")[1] == listed["key_id"]
    assert main(["keys", "revoke", key]) == 0  # the whole key works as well as its id
    assert main(["keys", "list"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["keys", "list", "--all"]) == 0
    assert json.loads(capsys.readouterr().out)["revoked_at"] is not None
    assert main(["keys", "revoke", listed["key_id"]]) == 1
    assert "no live key has the id" in capsys.readouterr().err


async def test_concurrent_checks_of_one_key_agree(engine: AsyncEngine) -> None:
    key, _ = await create_key(engine, Role.READER)
    check = KeyCheck(engine, ttl=60)
    found = await asyncio.gather(*(check.principal(f"Bearer {key}") for _ in range(5)))
    assert len(set(found)) == 1


def _unknown(n: int) -> str:
    """A well-formed key that no row has."""
    return f"Bearer uq_{n:012d}_{'A' * 43}"


async def test_a_flood_of_unknown_tokens_stays_bounded_and_writes_nothing(
    engine: AsyncEngine,
) -> None:
    key, _ = await create_key(engine, Role.READER)
    check = KeyCheck(engine, ttl=60, cache_size=50)
    await check.principal(f"Bearer {key}")
    async with engine.connect() as connection:
        before = (await connection.execute(select(api_keys))).all()
    with count_statements(engine) as sql:
        for n in range(200):
            with pytest.raises(AuthError, match="unknown or revoked API key"):
                await check.principal(_unknown(n))
    assert sql.count == 200  # one read each
    assert all(s.lstrip().startswith("SELECT") for s in sql.statements), sql
    assert check.remembered == 50 + 1  # the newest 50 refusals, and the real key
    with count_statements(engine) as sql:
        assert (await check.principal(f"Bearer {key}")).role is Role.READER
        with pytest.raises(AuthError):
            await check.principal(_unknown(199))  # refused within the TTL: not asked again
    assert sql.count == 0  # refusals never push a real key out
    async with engine.connect() as connection:
        assert (await connection.execute(select(api_keys))).all() == before


async def test_last_used_is_written_once_per_ttl_across_processes(engine: AsyncEngine) -> None:
    key, info = await create_key(engine, Role.READER)
    one, other = KeyCheck(engine, ttl=60), KeyCheck(engine, ttl=60)  # two server processes
    with count_statements(engine) as sql:
        await one.principal(f"Bearer {key}")
    assert [s.split()[0] for s in sql.statements] == ["SELECT", "UPDATE"]
    (used,) = [k.last_used_at for k in await list_keys(engine)]
    assert used is not None
    with count_statements(engine) as sql:
        await other.principal(f"Bearer {key}")
    assert [s.split()[0] for s in sql.statements] == ["SELECT"]  # used within the TTL: no write
    # Had it read the key before the first process wrote, its own write would change nothing.
    await other._touch(info.key_id)
    assert [k.last_used_at for k in await list_keys(engine)] == [used]
    # With no TTL every check is a new window, and writes again.
    await KeyCheck(engine, ttl=0).principal(f"Bearer {key}")
    (later,) = [k.last_used_at for k in await list_keys(engine)]
    assert later is not None
    assert later > used
