"""The time a cell's phases take: one timer for every kind of cell (lab.cell.Cell,
lab.remote.cell.NetworkCell), which the phases, the verdict's checks and the warm pool
(lab.warm) time their steps with, and the artifacts and summaries report."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator


class PhaseTimer:
    """A cell's ``timings``: each phase's seconds, summed over every time it ran."""

    timings: dict[str, float]

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block as phase ``name``, added to what that phase took before (also
        when the block raises)."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.monotonic() - started
