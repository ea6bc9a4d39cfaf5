"""The admin key `serve --demo` prints: kept in the data directory, one live at a time."""

from __future__ import annotations

import stat
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from usageql.auth import Role, create_key, list_keys, revoke_key
from usageql.demo.key import DEMO_KEY_NAME, KEY_FILE, demo_key


async def _live_names(engine: AsyncEngine) -> list[tuple[str, str | None]]:
    return sorted((info.key_id, info.name) for info in await list_keys(engine))


async def test_the_first_start_keeps_its_key_and_later_starts_show_it_again(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    first = await demo_key(engine, tmp_path / "data")
    kept = tmp_path / "data" / KEY_FILE
    assert (first.made, first.revoked, first.problem, first.path) == (True, 0, None, kept)
    assert kept.read_text() == f"{first.key}\n"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    again = await demo_key(engine, tmp_path / "data")
    assert (again.key, again.made, again.revoked) == (first.key, False, 0)
    assert await _live_names(engine) == [(first.key[3:15], DEMO_KEY_NAME)]


async def test_a_kept_key_that_no_longer_works_is_replaced(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    first = await demo_key(engine, tmp_path)
    await revoke_key(engine, first.key[3:15])
    replaced = await demo_key(engine, tmp_path)
    assert (replaced.made, replaced.revoked) == (True, 0)
    assert replaced.key != first.key
    assert (tmp_path / KEY_FILE).read_text() == f"{replaced.key}\n"
    # A file whose key names a live demo key with another secret (edited by hand, say) does not
    # pass for it: the key is made anew and the one it named revoked.
    forged = replaced.key[:16] + ("A" if replaced.key[16] != "A" else "B") + replaced.key[17:]
    (tmp_path / KEY_FILE).write_text(forged)
    remade = await demo_key(engine, tmp_path)
    assert (remade.made, remade.revoked) == (True, 1)
    assert await _live_names(engine) == [(remade.key[3:15], DEMO_KEY_NAME)]


async def test_older_demo_keys_are_revoked_and_other_keys_left_alone(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    # What earlier versions left: a new admin key named "demo" at every start.
    for _ in range(3):
        await create_key(engine, Role.ADMIN, name=DEMO_KEY_NAME)
    _, reader = await create_key(engine, Role.READER, name=DEMO_KEY_NAME)
    _, bound = await create_key(engine, Role.ADMIN, apps=["shop"], name=DEMO_KEY_NAME)
    _, mine = await create_key(engine, Role.ADMIN, name="mine")
    made = await demo_key(engine, tmp_path)
    assert (made.made, made.revoked) == (True, 3)
    assert await _live_names(engine) == sorted(
        [
            (made.key[3:15], DEMO_KEY_NAME),
            (reader.key_id, DEMO_KEY_NAME),
            (bound.key_id, DEMO_KEY_NAME),
            (mine.key_id, "mine"),
        ]
    )


async def test_a_key_that_cannot_be_kept_is_still_the_only_live_one(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    first = await demo_key(engine, blocker / "data")
    assert first.made
    assert first.problem is not None
    assert "Not a directory" in first.problem
    second = await demo_key(engine, blocker / "data")
    assert (second.made, second.revoked) == (True, 1)
    assert await _live_names(engine) == [(second.key[3:15], DEMO_KEY_NAME)]
