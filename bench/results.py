"""bench/RESULTS.md: each benchmark owns one marked section and replaces only that."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import psutil

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def machine() -> str:
    """The machine a figure was measured on, with a single-core speed reference: machines of
    the same kind here have differed ~2.8x in it, and every figure moves with it."""
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{os.cpu_count()} cores ({_cpu_model()}), {memory:.0f} GiB,"
        f" Python {platform.python_version()}, single-core reference {_reference_ms():.0f} ms"
        " (a fixed Python loop, `bench/results.py`; lower is faster)"
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {platform.machine()}"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _reference_ms() -> float:
    """The best of five runs of a fixed pure-Python loop, in milliseconds."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        total = 0
        for i in range(2_000_000):
            total += i * i % 7
        best = min(best, time.perf_counter() - started)
    return best * 1000


def record_section(name: str, section: str) -> None:
    """Write `section` between the `name` markers of RESULTS.md, keeping everything else."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{section}{end}\n"
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\n"
    if start in current:
        before, rest = current.split(start, 1)
        current = before + block + rest.split(end, 1)[1].lstrip("\n")
    else:
        current = current.rstrip("\n") + "\n\n" + block
    RESULTS.write_text(current)
    print(f"bench: recorded in {RESULTS}")
