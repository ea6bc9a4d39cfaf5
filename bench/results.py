"""bench/RESULTS.md: each benchmark owns one marked section and replaces only that."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import psutil

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def machine() -> str:
    """The machine a figure was measured on."""
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}),"
        f" {memory:.0f} GiB, Python {platform.python_version()}"
    )


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
