"""The `usageql` command: serve, migrate, demo, import, prices, keys, prune, compact, export-schema.

Each command imports what it needs when it runs, so `usageql keys list` loads neither GraphQL, the
web server nor Alembic and answers in a fraction of a second (loading them all took 0.7 s).
Commands other than `serve` log only warnings and errors unless USAGEQL_LOG_LEVEL says otherwise:
their output is their answer, not the embedded server's comings and goings.
"""

# ruff: noqa: PLC0415 (imports inside the commands that need them, as said above)

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from usageql import __version__
from usageql.auth import Role
from usageql.config import Settings, SettingsError
from usageql.db.tables import ANY_APP
from usageql.demo.options import DemoOptions
from usageql.logs import configure_logging

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from usageql.db.database import Database
    from usageql.demo.load import DemoSummary
    from usageql.ingest.importer import ImportSummary
    from usageql.ingest.price_table import ListedPrice

T = TypeVar("T")

QUIET_LOG_LEVEL = "warning"  # commands other than serve, unless USAGEQL_LOG_LEVEL is set


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    environ = dict(os.environ)
    if args.command != "serve" and not environ.get("USAGEQL_LOG_LEVEL", "").strip():
        environ["USAGEQL_LOG_LEVEL"] = QUIET_LOG_LEVEL
    try:
        settings = Settings.from_env(environ)
    except SettingsError as error:
        parser.exit(2, f"usageql: configuration error: {error}\n")
    configure_logging(settings)
    try:
        status: int = args.run(args, settings)
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        if not isinstance(error, _user_errors()):
            raise
        print(f"usageql: error: {error}", file=sys.stderr)
        return 1
    return status


def _user_errors() -> tuple[type[Exception], ...]:
    """Errors whose message tells the user what went wrong: one line, no traceback."""
    from usageql.db.database import DatabaseUnavailableError
    from usageql.db.embedded import EmbeddedPostgresError

    # ValueError covers bad input (BodyError, PriceError); OSError a refused connection.
    return (EmbeddedPostgresError, DatabaseUnavailableError, ValueError, OSError)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="usageql",
        description="GraphQL analytics over LLM usage. Without DATABASE_URL, usageql runs an"
        " embedded PostgreSQL in USAGEQL_DATA_DIR.",
    )
    parser.add_argument("--version", action="version", version=f"usageql {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP server (GraphQL at /graphql)")
    serve.add_argument("--host", help="interface to listen on (default: USAGEQL_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: USAGEQL_PORT or 8000)")
    serve.add_argument(
        "--demo", action="store_true", help="load demo data first when the database is empty"
    )
    serve.add_argument(
        "--no-migrate", action="store_true", help="do not migrate the database on start"
    )
    serve.add_argument(
        "--workers", type=int, help="worker processes (default: USAGEQL_WORKERS or 1)"
    )
    _demo_arguments(serve, prefix="demo-")
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(run=_migrate)

    demo = commands.add_parser("demo", help="generate synthetic usage data into the database")
    _demo_arguments(demo, prefix="")
    demo.set_defaults(run=_demo)

    importer = commands.add_parser(
        "import",
        help="ingest records from files: NDJSON, JSON array or CSV (.gz too); - reads stdin;"
        " or an Open WebUI database (--from open-webui)",
    )
    importer.add_argument(
        "files", nargs="+", metavar="FILE",
        help="files of records; with --from open-webui, Open WebUI's SQLite file (webui.db) or"
        " its PostgreSQL URL",
    )  # fmt: skip
    importer.add_argument(
        "--from", dest="origin", choices=["files", "open-webui"], default="files",
        help="what FILE is (default: files of records)",
    )  # fmt: skip
    importer.add_argument(
        "--format", choices=["auto", "ndjson", "json", "csv"], default="auto",
        help="how to read the files (default: by extension, then by content)",
    )  # fmt: skip
    importer.add_argument(
        "--app", help="with --from open-webui: the app its records belong to (default open-webui)"
    )
    importer.add_argument(
        "--batch-size", type=int, default=5000, help="records per transaction (default 5000)"
    )
    importer.set_defaults(run=_import)

    _prices_parser(commands)
    _keys_parser(commands)

    pruning = commands.add_parser(
        "prune",
        help="delete raw events before a date; hourly rollups keep answering counts, tokens,"
        " spend and users for that period",
    )
    pruning.add_argument(
        "--before", required=True, type=_utc_datetime, metavar="DATE",
        help="ISO 8601 date or date-time (UTC unless an offset is given), rounded down to the hour",
    )  # fmt: skip
    pruning.set_defaults(run=_prune)

    compacting = commands.add_parser(
        "compact",
        help="add the UTC days that have ended to the daily and monthly rollups now (the server"
        " does it every minute)",
    )
    compacting.add_argument(
        "--eager", action="store_true",
        help="add every day with events, today too, and from then on keep every event in the"
        " daily tables as it is stored (before downgrading past migration 0023)",
    )  # fmt: skip
    compacting.add_argument(
        "--until", type=_utc_datetime, metavar="DATE",
        help="add the days before DATE's UTC day (default: today's, the days that have ended);"
        " a later one adds today too, and events of the days added that arrive later are kept"
        " as they are stored",
    )  # fmt: skip
    compacting.set_defaults(run=_compact)

    export = commands.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    export.add_argument("--output", "-o", type=Path, help="write to this file instead of stdout")
    export.set_defaults(run=_export_schema)
    return parser


def _prices_parser(commands: Any) -> None:
    prices = commands.add_parser("prices", help="list, load or delete model prices")
    price_commands = prices.add_subparsers(dest="prices_command", required=True, metavar="ACTION")
    listing = price_commands.add_parser("list", help="the prices in force, as JSON lines")
    listing.add_argument("--configured", action="store_true", help="only operators' prices")
    listing.set_defaults(run=_prices_list)
    loading = price_commands.add_parser(
        "load",
        help="set prices from a JSON or CSV file (model, input, output, cache_read, ...) or from"
        " LiteLLM's model_prices_and_context_window.json",
    )
    loading.add_argument("file", type=Path)
    loading.set_defaults(run=_prices_load)
    deleting = price_commands.add_parser("delete", help="remove configured prices")
    deleting.add_argument("models", nargs="+", metavar="MODEL")
    deleting.add_argument("--app", default=ANY_APP, help="the app the prices are for (default all)")
    deleting.set_defaults(run=_prices_delete)


def _keys_parser(commands: Any) -> None:
    keys = commands.add_parser("keys", help="create, list or revoke API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    creating = key_commands.add_parser(
        "create", help="a new key, shown once: keep it (only a hash is stored)"
    )
    creating.add_argument("--role", required=True, choices=[r.value for r in Role])
    creating.add_argument("--app", action="append", default=[], help="bind to an app (repeat)")
    creating.add_argument("--user", action="append", default=[], help="bind to a user (repeat)")
    creating.add_argument("--name", help="a label for listings, e.g. who holds the key")
    creating.set_defaults(run=_keys_create)
    key_listing = key_commands.add_parser("list", help="keys as JSON lines (never secrets)")
    key_listing.add_argument("--all", action="store_true", help="include revoked keys")
    key_listing.set_defaults(run=_keys_list)
    revoking = key_commands.add_parser("revoke", help="stop a key from working (within seconds)")
    revoking.add_argument("key_id", metavar="KEY_ID", help="the part after uq_, as keys list shows")
    revoking.set_defaults(run=_keys_revoke)


def _demo_arguments(parser: argparse.ArgumentParser, *, prefix: str) -> None:
    defaults = DemoOptions()
    group = parser.add_argument_group("demo data")
    group.add_argument(
        f"--{prefix}messages", dest="messages", type=int, default=defaults.messages,
        help=f"about how many messages to make (default {defaults.messages:,})",
    )  # fmt: skip
    group.add_argument(
        f"--{prefix}days", dest="days", type=int, default=defaults.days,
        help=f"days of history, ending now (default {defaults.days})",
    )  # fmt: skip
    group.add_argument(
        f"--{prefix}apps", dest="apps", type=int, default=defaults.apps,
        help=f"number of apps (default {defaults.apps})",
    )  # fmt: skip
    group.add_argument(
        f"--{prefix}users", dest="users", type=int, default=defaults.users,
        help=f"number of users (default {defaults.users})",
    )  # fmt: skip
    group.add_argument(
        f"--{prefix}seed", dest="seed", type=int, default=defaults.seed,
        help="random seed: the same seed and end give the same data",
    )  # fmt: skip
    group.add_argument(
        f"--{prefix}end", dest="end", type=_utc_datetime, default=None,
        help="end of the period, ISO 8601 (default: the start of the current hour, UTC)",
    )  # fmt: skip


def _utc_datetime(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date-time: {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _demo_options(args: argparse.Namespace) -> DemoOptions:
    options = DemoOptions(
        messages=args.messages,
        days=args.days,
        apps=args.apps,
        users=args.users,
        seed=args.seed,
        end=args.end,
    )
    options.validate()
    return options


def _describe_database(database: Database, settings: Settings) -> str:
    if database.is_embedded:
        return f"embedded PostgreSQL in {settings.embedded_pgdata}"
    return database.url


async def _load_demo(database: Database, settings: Settings, options: DemoOptions) -> DemoSummary:
    from usageql.demo.load import load_demo
    from usageql.ingest.compact import compact
    from usageql.ingest.pipeline import Ingestor
    from usageql.progress import ProgressLine

    progress = ProgressLine("demo: messages", stream=sys.stderr)
    try:
        summary = await load_demo(Ingestor.configured(database.engine, settings), options, progress)
    finally:
        progress.finish()
    # The demo's days have ended: into the daily tables now, not at the server's next minute.
    days = ProgressLine("demo: days added to the daily rollups", stream=sys.stderr)
    try:
        await compact(database.engine, progress=days)
    finally:
        days.finish()
    return summary


def _ratings_replaced(count: int) -> str:
    """Ratings replaced by later ones with their id, said only when there were some."""
    return f" {count:,} rating{'' if count == 1 else 's'} replaced by a later one," if count else ""


def _chat_records_applied(count: int) -> str:
    """Chat records applied: upserts, counted apart from records stored for the first time."""
    return f"{count:,} chat record{'' if count == 1 else 's'} applied"


def _print_summary(summary: DemoSummary) -> None:
    print(
        f"demo: ingested {summary.records:,} records (messages, chats, ratings) in"
        f" {summary.seconds:.1f}s: {summary.accepted:,} stored, {summary.duplicates:,} already"
        f" stored, {_chat_records_applied(summary.described)}",
        file=sys.stderr,
    )


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    settings = settings.with_changes(
        host=args.host or settings.host,
        port=settings.port if args.port is None else args.port,
        migrate_on_start=settings.migrate_on_start and not args.no_migrate,
        workers=settings.workers if args.workers is None else args.workers,
    )
    if not 1 <= settings.workers <= 64:
        raise ValueError(f"--workers: must be between 1 and 64, got {settings.workers}")
    options = _demo_options(args) if args.demo else None
    from usageql.demo.key import DemoKey, demo_key
    from usageql.demo.load import database_is_empty
    from usageql.serve import serve

    made: dict[str, DemoKey] = {}

    async def prepare(database: Database) -> None:
        if options is not None:
            if await database_is_empty(database.engine):
                _print_summary(await _load_demo(database, settings, options))
            else:
                print("demo: the database already holds data; not adding more", file=sys.stderr)
            if settings.auth:
                made["key"] = await demo_key(database.engine, settings.data_dir)
        print(f"database: {_describe_database(database, settings)}", file=sys.stderr)

    return serve(settings, prepare, lambda: made.get("key"))


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from usageql.db.database import open_database

    async def run() -> str:
        async with open_database(settings, migrate=False) as database:
            before, after = await database.migrate()
        if before == after.current:
            return f"database is up to date (revision {after.current})"
        return f"database migrated from revision {before or 'none'} to {after.current}"

    # Long migrations say where they are (a line per batch), whatever the log level.
    progress = logging.getLogger("usageql.migrations")
    level = progress.level
    progress.setLevel(logging.INFO)
    try:
        print(asyncio.run(run()), file=sys.stderr)
    finally:
        progress.setLevel(level)
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from usageql.db.database import open_database

    options = _demo_options(args)

    async def run() -> DemoSummary:
        async with open_database(settings, migrate=settings.migrate_on_start) as database:
            return await _load_demo(database, settings, options)

    _print_summary(asyncio.run(run()))
    return 0


def _import(args: argparse.Namespace, settings: Settings) -> int:
    if not 1 <= args.batch_size <= settings.max_batch_records:
        raise ValueError(f"--batch-size: must be between 1 and {settings.max_batch_records}")
    if args.origin == "open-webui" and len(args.files) != 1:
        raise ValueError("--from open-webui: give one database (its SQLite file or PostgreSQL URL)")
    if args.origin == "open-webui" and args.format != "auto":
        raise ValueError("--format: only for files of records, not with --from open-webui")
    if args.app is not None and args.origin != "open-webui":
        raise ValueError("--app: only with --from open-webui; records of files name their app")
    from usageql.db.database import open_database
    from usageql.ingest.importer import import_files
    from usageql.ingest.openwebui_import import DEFAULT_APP, import_open_webui
    from usageql.ingest.pipeline import Ingestor
    from usageql.progress import ProgressLine

    async def run() -> ImportSummary:
        async with open_database(settings, migrate=settings.migrate_on_start) as database:
            ingestor = Ingestor.configured(database.engine, settings)
            if args.origin == "open-webui":
                progress = ProgressLine("import: chats and ratings", stream=sys.stderr)
                importing = import_open_webui(
                    ingestor, args.files[0], app=args.app or DEFAULT_APP,
                    batch_size=args.batch_size, progress=progress,
                )  # fmt: skip
            else:
                progress = ProgressLine("import: bytes", stream=sys.stderr)
                importing = import_files(
                    ingestor, args.files, fmt=args.format, batch_size=args.batch_size,
                    progress=progress,
                )  # fmt: skip
            try:
                return await importing
            finally:
                progress.finish()

    summary = asyncio.run(run())
    rate = summary.records / summary.seconds if summary.seconds else 0.0
    print(
        f"import: {summary.records:,} records in {summary.seconds:.1f}s ({rate:,.0f}/s):"
        f" {summary.accepted:,} stored, {summary.duplicates:,} already stored,"
        f"{_ratings_replaced(summary.replaced)} {_chat_records_applied(summary.described)},"
        f" {len(summary.rejected):,} rejected, {len(summary.conflicts):,} conflicting",
        file=sys.stderr,
    )
    for source, rejection in summary.rejected[:_SHOWN_REJECTIONS]:
        named = f" (id {rejection.id})" if rejection.id else ""
        print(f"  {source} {rejection.location}{named}: {rejection.error}", file=sys.stderr)
    hidden = len(summary.rejected) - _SHOWN_REJECTIONS
    if hidden > 0:
        print(f"  ... and {hidden:,} more rejected records", file=sys.stderr)
    for source, c in summary.conflicts[:_SHOWN_REJECTIONS]:
        print(
            f"  {source} {c.location} (id {c.id}): not stored, {c.first} has this id with other"
            " content and was kept",
            file=sys.stderr,
        )
    hidden = len(summary.conflicts) - _SHOWN_REJECTIONS
    if hidden > 0:
        print(f"  ... and {hidden:,} more conflicting records", file=sys.stderr)
    return 1 if summary.rejected else 0


_SHOWN_REJECTIONS = 20


def _in_transaction(settings: Settings, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run `work` in one transaction on the configured database."""

    async def in_transaction(engine: AsyncEngine) -> T:
        async with engine.begin() as connection:
            return await work(connection)

    return _on_database(settings, in_transaction)


def _prices_list(args: argparse.Namespace, settings: Settings) -> int:
    import orjson

    from usageql.ingest.price_table import entry_json, list_prices

    listed_prices: list[ListedPrice] = _in_transaction(
        settings, lambda connection: list_prices(connection, builtin=not args.configured)
    )
    for listed in listed_prices:
        line = {**entry_json(listed.entry), "source": listed.source}
        sys.stdout.write(orjson.dumps(line).decode() + "\n")
    return 0


def _prices_load(args: argparse.Namespace, settings: Settings) -> int:
    """Set the file's prices; exits 1 when entries of a LiteLLM map were refused (listed)."""
    from usageql.ingest.price_table import read_price_file, set_prices

    loaded = read_price_file(args.file)
    _in_transaction(settings, lambda connection: set_prices(connection, loaded.entries))
    skipped = f", skipped {loaded.skipped} not priced per token" if loaded.skipped else ""
    refused = f", refused {len(loaded.refused)}:" if loaded.refused else ""
    print(
        f"prices: set {len(loaded.entries)} prices from {args.file}{skipped}{refused}",
        file=sys.stderr,
    )
    for problem in loaded.refused:
        print(f"  {problem}", file=sys.stderr)
    return 1 if loaded.refused else 0


def _prices_delete(args: argparse.Namespace, settings: Settings) -> int:
    from usageql.ingest.price_table import delete_prices

    deleted = _in_transaction(
        settings, lambda connection: delete_prices(connection, args.models, args.app)
    )
    print(f"prices: deleted {deleted} prices", file=sys.stderr)
    return 0


def _on_database(settings: Settings, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run `work` against the configured database (migrated when settings say so)."""
    from usageql.db.database import open_database

    async def run() -> T:
        async with open_database(settings, migrate=settings.migrate_on_start) as database:
            return await work(database.engine)

    return asyncio.run(run())


def _keys_create(args: argparse.Namespace, settings: Settings) -> int:
    from usageql.auth import create_key

    role = Role(args.role)
    key, info = _on_database(
        settings,
        lambda engine: create_key(engine, role, apps=args.app, users=args.user, name=args.name),
    )
    scope = ", ".join(
        part
        for part in (
            f"apps {', '.join(info.apps)}" if info.apps else "",
            f"users {', '.join(info.users)}" if info.users else "",
        )
        if part
    )
    print(key)
    print(
        f"keys: created {role.value} key {info.key_id} ({scope or 'every app and user'})."
        " It is shown once: store it now. Send it as `Authorization: Bearer <key>`.",
        file=sys.stderr,
    )
    return 0


def _keys_list(args: argparse.Namespace, settings: Settings) -> int:
    import orjson

    from usageql.auth import list_keys

    for info in _on_database(settings, lambda engine: list_keys(engine, include_revoked=args.all)):
        line = {
            "key_id": info.key_id,
            "role": info.role.value,
            "name": info.name,
            "apps": info.apps,
            "users": info.users,
            "created_at": info.created_at.isoformat(),
            "last_used_at": None if info.last_used_at is None else info.last_used_at.isoformat(),
            "revoked_at": None if info.revoked_at is None else info.revoked_at.isoformat(),
        }
        sys.stdout.write(orjson.dumps(line).decode() + "\n")
    return 0


def _keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from usageql.auth import revoke_key

    key_id = args.key_id.removeprefix("uq_").split("_", 1)[0]
    if not _on_database(settings, lambda engine: revoke_key(engine, key_id)):
        raise ValueError(f"KEY_ID: no live key has the id {key_id!r} (see `usageql keys list`)")
    print(f"keys: revoked {key_id}", file=sys.stderr)
    return 0


def _prune(args: argparse.Namespace, settings: Settings) -> int:
    from usageql.db.prune import prune
    from usageql.progress import ProgressLine

    def say(text: str) -> None:
        print(f"prune: {text}", file=sys.stderr)

    progress = ProgressLine("prune: days deleted")
    summary = _on_database(
        settings,
        lambda engine: prune(engine, args.before, progress=progress, announce=say),
    )
    progress.finish()
    say(
        f"deleted {summary.messages:,} messages and {summary.feedback:,} ratings before"
        f" {summary.horizon.isoformat()}"
    )
    return 0


def _compact(args: argparse.Namespace, settings: Settings) -> int:
    from usageql.ingest.compact import compact
    from usageql.progress import ProgressLine

    progress = ProgressLine("compact: days added")
    summary = _on_database(
        settings,
        lambda engine: compact(engine, until=args.until, eager=args.eager, progress=progress),
    )
    progress.finish()
    reach = (
        "every event is now kept in them as it is stored"
        if summary.reached is None
        else f"they reach {summary.reached.isoformat()}"
    )
    print(
        f"compact: added {summary.days:,} days to the daily and monthly rollups; {reach}",
        file=sys.stderr,
    )
    return 0


def _export_schema(args: argparse.Namespace, settings: Settings) -> int:
    from strawberry.printer import print_schema

    from usageql.graphql.schema import schema

    text = print_schema(schema) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"schema written to {args.output}", file=sys.stderr)
    return 0
