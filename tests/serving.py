"""Running `usageql serve` as a real process in tests: a free port, a start, a wait for ready."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_serve(arguments: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """`usageql serve ARGUMENTS` logging at info, its stdout and stderr in one pipe."""
    return subprocess.Popen(
        [sys.executable, "-m", "usageql", "serve", *arguments],
        env={**env, "USAGEQL_LOG_LEVEL": "info"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_ready(base: str, process: subprocess.Popen[str], seconds: float) -> httpx.Response:
    """Poll /readyz until it answers 200; fail when the process exits or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"server exited with {process.returncode}"
        try:
            response = httpx.get(f"{base}/readyz", timeout=2)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"server not ready after {seconds}s")
