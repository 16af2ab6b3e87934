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


# Pandas pays per column: a 1 MB CSV of 20,000 columns takes ~1.5 s where 10 columns take ~15 ms,
# so a wide body goes to a worker thread however small it is.
INLINE_MAX_FIELDS = 1000
SNIFF_BYTES = 64 * 1024


def widest_row(body: bytes, content_type: str | None) -> int:
    """Fields in the widest of the first rows, counted by commas in the first 64 KiB: the first
    object of a JSON body, else the first lines (a multipart body's CSV header is among them)."""
    head = body[:SNIFF_BYTES]
    if "json" in (content_type or "").lower():
        return head.split(b"}", 1)[0].count(b",") + 1
    return max((line.count(b",") + 1 for line in head.split(b"\n", 8)[:8]), default=0)


def fits_inline(body: bytes, content_type: str | None, inline_bytes: int) -> bool:
    """Milliseconds of work: small, and not wide."""
    return len(body) <= inline_bytes and widest_row(body, content_type) <= INLINE_MAX_FIELDS
