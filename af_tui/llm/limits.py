"""Per-model limits: how many samples of one model are in flight, the pause a provider asked for with
Retry-After, and an adaptive limit that halves after a 429 and recovers slowly. One `Throttle` per model, so
a model whose provider pushes back slows down alone while the others keep going.
"""

from __future__ import annotations

import asyncio
import time

RECOVER_AFTER = 10  # successful calls without a 429 before the limit grows by one
POLL_S = 0.05  # how often a waiting sample looks again (only while throttled: the free path never sleeps)


class Throttle:
    """`async with throttle:` around a sample keeps at most `limit` in flight; `await throttle.ready()` before
    each call waits out a provider's Retry-After."""

    def __init__(self, limit: int) -> None:
        self.max = max(1, limit)
        self.limit = self.max
        self.in_flight = 0
        self.pause_until = 0.0  # time.monotonic() before which no call of this model is sent
        self.rate_limited = 0  # 429s seen
        self._since_429 = 0

    @property
    def throttled(self) -> bool:
        return self.limit < self.max or self.pause_until > time.monotonic()

    async def __aenter__(self) -> Throttle:
        while self.in_flight >= self.limit:
            await asyncio.sleep(POLL_S)
        self.in_flight += 1
        return self

    async def __aexit__(self, *exc) -> None:
        self.in_flight -= 1

    async def ready(self) -> None:
        while (wait := self.pause_until - time.monotonic()) > 0:
            await asyncio.sleep(min(wait, 1.0))

    def rate_limit(self, retry_after: float | None) -> None:
        """A 429: halve the limit, and pause every call of this model for Retry-After seconds if given."""
        self.rate_limited += 1
        self._since_429 = 0
        self.limit = max(1, self.limit // 2)
        if retry_after:
            self.pause_until = max(self.pause_until, time.monotonic() + retry_after)

    def success(self) -> None:
        if self.limit >= self.max:
            return
        self._since_429 += 1
        if self._since_429 >= RECOVER_AFTER:
            self._since_429 = 0
            self.limit += 1

    def state(self) -> dict:
        """What the run monitor shows (stored in the run's config while it runs)."""
        return {"limit": self.limit, "max": self.max, "rate_limited": self.rate_limited,
                "paused_s": round(max(0.0, self.pause_until - time.monotonic()), 1)}
