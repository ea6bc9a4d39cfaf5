"""A progress line for long commands: redrawn in place on a terminal, a few lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressLine:
    """Call with (done, total); `finish()` ends the line."""

    def __init__(self, label: str, *, unit: str = "", stream: TextIO | None = None) -> None:
        self.label = label
        self.unit = unit
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.started = time.perf_counter()
        self._last_decile = -1
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        rate = f"{done / elapsed:,.0f}{self.unit}/s"
        if total > 0:
            share = min(done / total, 1.0)
            text = f"{self.label} {done:,}/{total:,}{self.unit} ({share:.0%}, {rate})"
        else:  # the size is unknown (stdin): count without a bar
            share = 0.0
            text = f"{self.label} {done:,}{self.unit} ({rate})"
        if self.interactive and total <= 0:
            self.stream.write(f"\r{text}")
            self._drawn = True
        elif self.interactive:
            width = 24
            bar = "#" * int(share * width) + "-" * (width - int(share * width))
            self.stream.write(f"\r[{bar}] {text}")
            self._drawn = True
        elif total <= 0 or int(share * 10) > self._last_decile:
            self._last_decile = int(share * 10)
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """End the in-place line so the next output starts on its own line."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
