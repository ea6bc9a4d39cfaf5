"""The admin key `serve --demo` prints: one live demo key, the same at every start.

Only a hash of a key is stored in the database, so the demo key's secret is kept in the data
directory (mode 0600) and printed again at every start: a browser or a shell that remembered it
keeps working across restarts. A kept key that no longer works (revoked, or made for another
database) is replaced, and every other live demo key is revoked, so each start leaves exactly
one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from usageql.auth import KeyInfo, Role, create_key, list_keys, live_key, revoke_key

DEMO_KEY_NAME = "demo"  # the name `serve --demo` gives its admin key (as it always has)
KEY_FILE = "demo-admin-key"  # in the data directory


@dataclass(frozen=True, slots=True)
class DemoKey:
    """The demo key and how it was come by."""

    key: str
    path: Path  # where it is kept
    made: bool  # made at this start: none was kept, or the kept one no longer worked
    revoked: int  # other demo keys revoked at this start
    problem: str | None = None  # why the key could not be kept in `path`, if it could not


async def demo_key(engine: AsyncEngine, data_dir: Path) -> DemoKey:
    """The kept demo key while it works, else a new one (kept in its place); every other live
    demo key is revoked."""
    path = data_dir / KEY_FILE
    kept = _read(path)
    found = None if kept is None else await live_key(engine, kept)
    if kept is not None and found is not None and _is_demo_key(found):
        key, info, made = kept, found, False
        problem = _keep(path, None)
    else:
        key, info = await create_key(engine, Role.ADMIN, name=DEMO_KEY_NAME)
        made = True
        problem = _keep(path, key)
    revoked = 0
    for other in await list_keys(engine):
        if _is_demo_key(other) and other.key_id != info.key_id:
            revoked += await revoke_key(engine, other.key_id)
    return DemoKey(key=key, path=path, made=made, revoked=revoked, problem=problem)


def _is_demo_key(info: KeyInfo) -> bool:
    """A key `serve --demo` made: named so, admin, bound to nothing."""
    return (
        info.name == DEMO_KEY_NAME
        and info.role is Role.ADMIN
        and info.apps is None
        and info.users is None
    )


def _read(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None  # none kept, or unreadable: a new key replaces it
    return text or None


def _keep(path: Path, key: str | None) -> str | None:
    """Write `key` (None: the key already there) readable by its owner only; why not, if not."""
    try:
        if key is None:
            path.chmod(0o600)
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.unlink(missing_ok=True)
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(key + "\n")
        partial.replace(path)  # whole or not at all
    except OSError as error:
        return str(error)
    return None
