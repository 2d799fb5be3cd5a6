"""One generation at a time, a bounded line of waiters, 503 beyond it.

The node's threads belong to one llama.cpp computation at a time: two in parallel on a
small CPU would each run at less than half speed (see notes on thread contention).
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from harvis.llm.types import NoCapacity


class Gate:
    def __init__(self, max_queue: int) -> None:
        self.max_queue = max(0, max_queue)
        self._slot = asyncio.Lock()
        self.waiting = 0  # admitted, not yet holding the slot

    def admit(self) -> Ticket:
        """Reserve a place in line now (before the response starts), or raise NoCapacity."""
        # Capacity: the one holding the slot (or about to) plus max_queue in line.
        if self.waiting + int(self._slot.locked()) >= 1 + self.max_queue:
            raise NoCapacity(
                "server busy, please try again.  maximum pending requests exceeded", retry_after=1.0
            )
        self.waiting += 1
        return Ticket(self)


class Ticket:
    """``async with ticket``: wait for the slot, hold it for the body, give it back."""

    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self._queued = True

    def drop(self) -> None:
        """Leave the line without ever entering (the request ended before it ran)."""
        if self._queued:
            self._queued = False
            self._gate.waiting -= 1

    async def __aenter__(self) -> Ticket:
        try:
            await self._gate._slot.acquire()
        finally:
            self.drop()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._gate._slot.release()
