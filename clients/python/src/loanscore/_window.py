"""How many batches one client keeps in flight: additive increase, multiplicative decrease.

A client scoring a large DataFrame could otherwise keep a loaded server answering BUSY (its
queue-delay limit sheds load) and exhaust its retries. The window halves on each BUSY (at most
once per 50 ms, so one burst of refusals counts once) and grows by one batch per window's worth
of answers, up to ``maximum``: the client settles at what the server sustains.
"""
from __future__ import annotations

import asyncio
import time


class Window:
    """An AIMD-limited count of batches in flight, shared by every call of one client."""

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self.limit = float(maximum)
        self.used = 0
        self._changed: asyncio.Condition | None = None
        self._last_cut = 0.0

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def acquire(self) -> None:
        """Waits until fewer batches than the window are in flight, and takes a place."""
        changed = self._condition()
        async with changed:
            await changed.wait_for(lambda: self.used < int(self.limit))
            self.used += 1

    async def release(self) -> None:
        changed = self._condition()
        async with changed:
            self.used -= 1
            changed.notify_all()

    def answered(self) -> None:
        """An answer arrived: widen the window by 1/limit (one batch per window of answers)."""
        self.limit = min(float(self.maximum), self.limit + 1.0 / self.limit)

    def busy(self) -> None:
        """The server answered BUSY: halve the window (once per 50 ms)."""
        now = time.monotonic()
        if now - self._last_cut >= 0.05:
            self.limit = max(1.0, self.limit / 2)
            self._last_cut = now
