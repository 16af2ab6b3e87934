"""Bounded off-loop scoring: at most N large requests are read and scored at once.

A limiter per event loop (asyncio primitives belong to the loop that first waits on them, and
the Lambda adapter runs a fresh loop per invocation).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

CLIENT_CLOSED = 499  # recorded (never sent) when the client left before its answer, as nginx does


class ScoringSlots:
    def __init__(self, count: int) -> None:
        self.count = max(1, count)
        self._limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
            weakref.WeakKeyDictionary()
        )

    def limiter(self) -> anyio.CapacityLimiter:
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:
            limiter = self._limiters[loop] = anyio.CapacityLimiter(self.count)
        return limiter

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Held while a large body is read and scored; waiters queue in arrival order."""
        async with self.limiter():
            yield
