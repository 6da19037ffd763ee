"""Abuse limits: a token bucket per API token and per remote address (docs/security.md).

A flood from one token, one address or one misbehaving webhook sender must not starve the
workers or the other clients; the limit answers 429 with Retry-After before any work is done.
Buckets live in the process: with several intake replicas each enforces its own share, which is
the intent (a load balancer spreads the flood). Idle buckets are dropped so that a scan from
many addresses cannot grow the table without bound.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Limit", "RateLimiter"]


@dataclass(frozen=True)
class Limit:
    """`rate` requests per second on average, up to `burst` at once; rate 0 means no limit."""

    rate: float
    burst: int

    @property
    def enabled(self) -> bool:
        return self.rate > 0 and self.burst > 0


class RateLimiter:
    def __init__(
        self,
        limit: Limit,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at
        self._lock = threading.Lock()

    def take(self, key: str) -> float | None:
        """None if `key` may go ahead (one token spent), else the seconds until it may."""
        if not self.limit.enabled:
            return None
        rate, burst = self.limit.rate, float(self.limit.burst)
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (burst, now))
            tokens = min(burst, tokens + (now - at) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                wait = None
            else:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / rate
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)  # least recently seen first
        return wait


def retry_after(wait: float) -> str:
    """Retry-After in whole seconds (RFC 9110 allows no fractions), never 0."""
    return str(max(1, math.ceil(wait)))
