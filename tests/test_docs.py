"""Every command in README.md and docs/ runs as written against `usageql serve --demo`.

A reader copies the docs' commands into a shell next to a running `usageql serve --demo`, with
`USAGEQL_API_KEY` set as the demo's printout says. This test does the same: it starts that
server on this test's database and a free port, runs each shell block through bash (from a
scratch directory, with `.venv/bin` on PATH, the docs' address replaced by the server's) and POSTs
each GraphQL block. A doc that drifts from the code fails here. Blocks that cannot run in a test
say why in a marker (tests/doc_blocks.py); they are counted and reported, not run.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.doc_blocks import (
    RUNNABLE,
    SHOWN,
    Block,
    all_blocks,
    expected_answers,
    json_values,
    unmatched,
)

VENV_BIN = Path(sys.executable).parent
DOCS_URL = "http://127.0.0.1:8000"
_KEY = re.compile(r"uq_[a-z0-9]{12}_[A-Za-z0-9_-]{43}")
START_SECONDS = 180  # migrations, and the demo's 40,000 messages (about 6 s here)
BLOCK_SECONDS = 120


def test_every_block_runs_or_says_why_it_cannot() -> None:
    blocks, stray = all_blocks()
    assert stray == [], "markers must sit right before a block and give a reason"
    unrunnable = [
        str(b) for b in blocks if b.language not in RUNNABLE | SHOWN and b.not_run is None
    ]
    assert unrunnable == [], (
        "these blocks are in a language tests/test_docs.py does not run: mark them"
        " `<!-- not run by tests/test_docs.py: why -->`"
    )
    readme = [b.language for b in blocks if b.path.name == "README.md" and b.not_run is None]
    assert {"sh", "graphql"} <= set(readme)  # the parser finds what the README shows


@pytest.fixture
def demo_server(database_url: str, tmp_path: Path) -> Iterator[tuple[str, str, dict[str, str]]]:
    """`usageql serve --demo` on this test's database: (its address, the API key it printed,
    the environment the docs' commands run in)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("USAGEQL_", "DATABASE_"))}
    env |= {
        "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        "DATABASE_URL": database_url,
        "USAGEQL_DATA_DIR": str(tmp_path / "data"),
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            ["usageql", "serve", "--demo", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        key = _wait_for_key(base, server, log)
        yield base, key, {**env, "USAGEQL_API_KEY": key}
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_for_key(base: str, server: subprocess.Popen[bytes], log: Path) -> str:
    """The API key the demo prints, once the server answers /readyz."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        assert server.poll() is None, f"serve --demo exited:\n{log.read_text()}"
        key = _KEY.search(log.read_text())
        try:
            ready = httpx.get(f"{base}/readyz", timeout=5).status_code == 200
        except httpx.TransportError:
            ready = False
        if ready and key is not None:
            return key.group(0)
        time.sleep(0.2)
    raise AssertionError(f"serve --demo printed no key or was not ready:\n{log.read_text()}")


def _run_shell(block: Block, base: str, env: dict[str, str], workdir: Path) -> list[str]:
    """Run a shell block as bash runs a script that stops at the first failing command;
    what is wrong with what it did (nothing: [])."""
    script = block.text.replace(DOCS_URL, base)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=BLOCK_SECONDS,
        check=False,
    )
    said = f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    if done.returncode != 0:
        return [f"{block}: exit status {done.returncode}\n{said}"]
    printed = list(json_values(done.stdout))
    problems = [
        f"{block}: an answer is an error: {value}"
        for value in printed
        if isinstance(value, dict) and ("error" in value or "errors" in value)
    ]
    missing = unmatched(expected_answers(block.text), printed)
    if missing:
        problems.append(f"{block}: the answers its comments show were not printed: {missing}")
    return [f"{problem}\n{said}" for problem in problems]


def _run_graphql(block: Block, base: str, key: str) -> list[str]:
    """POST a GraphQL block as GraphiQL would; what is wrong with the answer (nothing: [])."""
    response = httpx.post(
        f"{base}/graphql",
        json={"query": block.text},
        headers={"authorization": f"Bearer {key}"},
        timeout=BLOCK_SECONDS,
    )
    body = response.json()
    if response.status_code != 200 or body.get("errors") or not body.get("data"):
        return [f"{block}: {response.status_code} {body}"]
    return []


def test_the_docs_commands_run_as_written_against_serve_demo(
    demo_server: tuple[str, str, dict[str, str]], tmp_path: Path
) -> None:
    base, key, env = demo_server
    workdir = tmp_path / "reader"
    workdir.mkdir()
    blocks, _ = all_blocks()
    to_run = [b for b in blocks if b.language in RUNNABLE and b.not_run is None]
    not_run = [b for b in blocks if b.not_run is not None]
    problems: list[str] = []
    ran = 0
    for block in to_run:  # in reading order: later commands may rely on earlier ones
        if block.language == "sh":
            problems += _run_shell(block, base, env, workdir)
        else:
            problems += _run_graphql(block, base, key)
        ran += 1
    print(f"\ntests/test_docs.py: ran {ran} doc blocks, skipped {len(not_run)} marked not run:")
    for block in not_run:
        print(f"  {block}: {block.not_run}")
    assert not problems, "\n\n".join(problems)
    assert ran >= len([b for b in blocks if b.not_run is None and b.language not in SHOWN])
