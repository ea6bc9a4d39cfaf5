"""The files that describe how to run usageql say the same things as the code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from usageql.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_compose_runs_usageql_from_the_dockerfile_against_its_postgres() -> None:
    compose = _compose()
    postgres, usageql = compose["services"]["postgres"], compose["services"]["usageql"]
    assert usageql["build"] == "."
    assert usageql["command"] == ["usageql", "serve"]
    assert usageql["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    env = postgres["environment"]
    expected = (
        f"postgresql://{env['POSTGRES_USER']}:{env['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{env['POSTGRES_DB']}"
    )
    assert usageql["environment"]["DATABASE_URL"] == expected
    settings = Settings.from_env({k: str(v) for k, v in usageql["environment"].items()})
    assert f"127.0.0.1:{settings.port}:{settings.port}" in usageql["ports"]
    assert "/readyz" in " ".join(usageql["healthcheck"]["test"])
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert "pgdata" in compose["volumes"]
    assert "pgdata:/var/lib/postgresql/data" in postgres["volumes"]


def test_dockerfile_installs_the_package_and_serves() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^RUN pip install \. ", dockerfile, re.MULTILINE)
    assert 'CMD ["usageql", "serve"]' in dockerfile
    assert "USAGEQL_HOST=0.0.0.0" in dockerfile
    assert "/readyz" in dockerfile


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    source = (ROOT / "src" / "usageql" / "config.py").read_text()
    variables = set(re.findall(r'"((?:USAGEQL|DATABASE)_[A-Z_]+)"', source))
    assert len(variables) >= 9
    missing = sorted(v for v in variables if f"`{v}`" not in readme)
    assert missing == []


def test_readme_gives_exactly_two_commands_that_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"<!-- (start|test)-command -->\n```sh\n(.+)\n```", readme)
    assert [name for name, _ in commands] == ["start", "test"]
    start, test = (command for _, command in commands)
    assert start.endswith("usageql serve --demo")
    assert test.endswith(".venv/bin/pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    assert "readme_command test-command" in ci
    assert "readme_command start-command" in ci
