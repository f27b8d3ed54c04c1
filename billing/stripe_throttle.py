"""A request-rate limit shared by every process on every machine, kept in Redis.

It is GCRA (the generic cell rate algorithm) with no burst: each request reserves the next free
slot, slots are `1/rate` seconds apart on Redis's own clock, and the caller sleeps until its
slot. So in any one-second window at most `rate` requests are released, however many workers
ask at once, and nobody polls.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

import redis

# KEYS[1]: the throttle key. ARGV[1]: microseconds between two requests.
# Returns the reserved slot (microseconds, Redis clock) and the Redis time now.
_RESERVE_SLOT = """
local interval = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
redis.call('SET', KEYS[1], string.format('%d', slot + interval), 'PX', 60000)
return {string.format('%d', slot), string.format('%d', now)}
"""


class ThrottleUnavailableError(Exception):
    """Redis cannot be reached: no slot can be reserved, so no request may be sent."""


class RequestThrottle:
    def __init__(self, *, redis_url: str, key: str, requests_per_second: float) -> None:
        if requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive")
        self.key = key
        self.requests_per_second = requests_per_second
        # Rounded up: truncating (8333 µs at 120/s) would fit 121 slots into one second.
        self._interval_us = math.ceil(1_000_000 / requests_per_second)
        self._redis = redis.Redis.from_url(redis_url)
        self._reserve = self._redis.register_script(_RESERVE_SLOT)
        self._lock = threading.Lock()
        # The last slots this process was given (seconds, Redis clock), for tests and metrics.
        self.recent_slots: deque[float] = deque(maxlen=100_000)

    def acquire(self) -> None:
        """Block until this caller may send one request. Without Redis there is no shared
        count, so nothing is sent (fail closed): `ThrottleUnavailableError`."""
        try:
            reserved = self._reserve(keys=[self.key], args=[self._interval_us])
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise ThrottleUnavailableError(f"the request throttle is unavailable: {exc}") from exc
        slot_us, now_us = (int(v) for v in reserved)
        with self._lock:
            self.recent_slots.append(slot_us / 1_000_000)
        wait = (slot_us - now_us) / 1_000_000
        if wait > 0:
            time.sleep(wait)


def max_in_any_window(timestamps: list[float], window_seconds: float = 1.0) -> int:
    """The most timestamps that fall in any half-open window [t, t + window)."""
    ordered = sorted(timestamps)
    best = start = 0
    for end, stamp in enumerate(ordered):
        while stamp - ordered[start] >= window_seconds:
            start += 1
        best = max(best, end - start + 1)
    return best
