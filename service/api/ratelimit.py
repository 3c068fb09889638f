"""A small in-memory token bucket per client address, for the public verification endpoints.

Each instance limits on its own: behind a load balancer of N instances a client may reach N
times the rate, which is what a per-instance guard against floods needs, not a quota.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["RATE_TAKEN", "TokenBuckets"]

# set in an ASGI scope whose request already took its token (``routes.verify.fast_lane``)
RATE_TAKEN = "suixin.rate_taken"


class TokenBuckets:
    """``rate_per_minute`` requests per client, with bursts up to the same number."""

    def __init__(
        self,
        rate_per_minute: int,
        *,
        max_clients: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = float(rate_per_minute)
        self.refill_per_second = rate_per_minute / 60.0
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """Take one token for ``client``; returns 0 if allowed, else seconds until a token."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.pop(client, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.refill_per_second)
            if tokens >= 1.0:
                wait, tokens = 0.0, tokens - 1.0
            else:
                wait = (1.0 - tokens) / self.refill_per_second
            self._buckets[client] = (tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)  # the least recently seen client
        return wait
