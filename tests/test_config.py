from __future__ import annotations

from pathlib import Path

import pytest

from usageql.config import Settings, SettingsError


def test_defaults_use_the_embedded_database_in_the_xdg_data_dir() -> None:
    settings = Settings.from_env({"HOME": "/home/ada"})
    assert settings.database_url is None
    assert settings.embedded
    assert settings.data_dir == Path("/home/ada/.local/share/usageql")
    assert settings.embedded_pgdata == Path("/home/ada/.local/share/usageql/postgres")
    assert (settings.host, settings.port, settings.log_level) == ("127.0.0.1", 8000, "info")
    assert settings.migrate_on_start
    assert settings.graphiql


def test_every_variable_is_read(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://u:p@db:5432/usage",
            "USAGEQL_DATA_DIR": str(tmp_path),
            "USAGEQL_HOST": "0.0.0.0",  # noqa: S104
            "USAGEQL_PORT": "9000",
            "USAGEQL_LOG_LEVEL": "DEBUG",
            "USAGEQL_LOG_FORMAT": "json",
            "USAGEQL_MIGRATE_ON_START": "no",
            "USAGEQL_DB_POOL_SIZE": "3",
            "USAGEQL_GRAPHIQL": "off",
        }
    )
    assert settings.database_url == "postgresql://u:p@db:5432/usage"
    assert not settings.embedded
    assert settings.data_dir == tmp_path
    assert settings.host == "0.0.0.0"  # noqa: S104
    assert settings.port == 9000
    assert settings.log_level == "debug"
    assert settings.log_format == "json"
    assert settings.migrate_on_start is False
    assert settings.pool_size == 3
    assert settings.graphiql is False


def test_xdg_data_home_is_respected(tmp_path: Path) -> None:
    settings = Settings.from_env({"XDG_DATA_HOME": str(tmp_path)})
    assert settings.data_dir == tmp_path / "usageql"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"USAGEQL_PORT": "http"}, "USAGEQL_PORT: expected a whole number, got 'http'"),
        ({"USAGEQL_PORT": "70000"}, "USAGEQL_PORT: must be between 1 and 65535, got 70000"),
        ({"USAGEQL_DB_POOL_SIZE": "0"}, "USAGEQL_DB_POOL_SIZE: must be between 1 and 1000"),
        ({"USAGEQL_MIGRATE_ON_START": "maybe"}, "USAGEQL_MIGRATE_ON_START: expected true or false"),
        ({"USAGEQL_LOG_LEVEL": "loud"}, "USAGEQL_LOG_LEVEL: expected one of debug, info"),
        ({"USAGEQL_LOG_FORMAT": "xml"}, "USAGEQL_LOG_FORMAT: expected one of json, text"),
        ({"DATABASE_URL": "mysql://db/usage"}, "DATABASE_URL: expected a postgresql:// URL"),
        (
            {"USAGEQL_MAX_GRAPHQL_BYTES": "100"},
            "USAGEQL_MAX_GRAPHQL_BYTES: must be between 1024 and 2147483648, got 100",
        ),
        (
            {"USAGEQL_MAX_RESPONSE_BYTES": "lots"},
            "USAGEQL_MAX_RESPONSE_BYTES: expected a whole number, got 'lots'",
        ),
        ({"USAGEQL_RANDOM_PAGE_COST": "cheap"}, "USAGEQL_RANDOM_PAGE_COST: expected a number"),
        (
            {"USAGEQL_RANDOM_PAGE_COST": "0"},
            "USAGEQL_RANDOM_PAGE_COST: must be between 0.01 and 1000, got 0",
        ),
        (
            {"USAGEQL_RANDOM_PAGE_COST": "nan"},
            "USAGEQL_RANDOM_PAGE_COST: must be between 0.01 and 1000, got nan",
        ),
    ],
)
def test_bad_values_name_the_variable_and_the_problem(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    assert message in str(raised.value)


def test_the_planners_page_cost_is_read_and_handed_to_workers() -> None:
    assert Settings.from_env({}).random_page_cost == 1.1
    settings = Settings.from_env({"USAGEQL_RANDOM_PAGE_COST": " 4 "})
    assert settings.random_page_cost == 4.0
    assert Settings.from_env(settings.to_env()).random_page_cost == 4.0


def test_with_changes_returns_a_new_object() -> None:
    settings = Settings.from_env({})
    changed = settings.with_changes(port=1234)
    assert (settings.port, changed.port) == (8000, 1234)


def test_request_and_answer_limits_are_read() -> None:
    defaults = Settings.from_env({})
    assert defaults.max_graphql_bytes == defaults.max_response_bytes == 16 * 1024 * 1024
    assert defaults.max_query_cost == 250_000
    settings = Settings.from_env(
        {"USAGEQL_MAX_GRAPHQL_BYTES": "65536", "USAGEQL_MAX_RESPONSE_BYTES": "2048"}
    )
    assert (settings.max_graphql_bytes, settings.max_response_bytes) == (65536, 2048)
    # Worker processes get them too.
    assert Settings.from_env(settings.to_env()).max_response_bytes == 2048
