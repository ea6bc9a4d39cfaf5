"""What `usageql demo` and `serve --demo` make: kept apart from the generator, so the command line
can show the defaults without loading it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """How much data to make, over which period, from which seed."""

    messages: int = 40_000
    days: int = 90
    apps: int = 4
    users: int = 300
    seed: int = 42
    end: datetime | None = None  # default: the start of the current hour, UTC

    def validate(self) -> None:
        """Raise ValueError naming the first option out of range."""
        limits = {"messages": (1, 100_000_000), "days": (1, 3650), "users": (1, 10_000_000)}
        for name, (low, high) in limits.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{name}: must be between {low} and {high}, got {value}")
        if not 1 <= self.apps <= 100:
            raise ValueError(f"apps: must be between 1 and 100, got {self.apps}")
