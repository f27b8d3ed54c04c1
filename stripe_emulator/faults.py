"""Injected faults, the rate limiter and the traffic statistics of the ``/v1`` API.

Checked for every ``/v1`` request after authentication and before anything executes, in this
order (so a rejected request changes nothing and saves no idempotent result):

1. ``rate_limit_per_second``: a sliding one-second window over all admitted requests of all
   clients, like Stripe's limiter (about 25 requests/s in test mode, the default here; 0 turns it
   off). Above it: 429 ``{"error": {"type": "invalid_request_error", "code": "rate_limit", …}}``.
2. ``rate_limit_error_rate``: that share of requests gets the same 429 at random.
3. ``error_rate``: that share of requests gets 500 ``{"error": {"type": "api_error", …}}``.

``latency_ms`` is slept by the request pipeline (:mod:`stripe_emulator.api`). Random choices come
from one generator seeded with ``seed`` (when set), so a run can be repeated.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, deque
from collections.abc import Callable
from typing import Any, TypeVar

from stripe_emulator.config import Settings
from stripe_emulator.errors import StripeError

T = TypeVar("T")

ARRIVALS_KEPT = 200_000
RATE_LIMIT_MESSAGE = (
    "Request rate limit exceeded. Learn more about rate limits here "
    "https://stripe.com/docs/rate-limits."
)


class Randomness:
    """One random generator for faults and webhook shuffling, re-seedable at runtime."""

    def __init__(self, seed: int | None) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed)  # noqa: S311 - fault injection, not security

    def reseed(self, seed: int | None) -> None:
        with self._lock:
            self._random = random.Random(seed)  # noqa: S311

    def chance(self, probability: float) -> bool:
        if probability <= 0:
            return False
        with self._lock:
            return self._random.random() < probability

    def shuffle(self, items: list[T]) -> None:
        with self._lock:
            self._random.shuffle(items)


class Traffic:
    """Admission control (rate limit and injected errors) and statistics for ``/v1``."""

    def __init__(self, settings: Callable[[], Settings], randomness: Randomness) -> None:
        self._settings = settings
        self._random = randomness
        self._lock = threading.Lock()
        self._admitted: deque[float] = deque()
        self.reset_stats()

    def reset_stats(self) -> None:
        with self._lock:
            self._requests = 0
            self._by_status: Counter[str] = Counter()
            self._injected_500 = 0
            self._injected_429 = 0
            self._rate_limited = 0
            self._arrivals: deque[float] = deque(maxlen=ARRIVALS_KEPT)
            self._last_second: deque[float] = deque()
            self._max_in_window = 0

    def arrived(self, now: float) -> None:
        with self._lock:
            self._requests += 1
            self._arrivals.append(now)
            self._last_second.append(now)
            while self._last_second and self._last_second[0] <= now - 1.0:
                self._last_second.popleft()
            self._max_in_window = max(self._max_in_window, len(self._last_second))

    def answered(self, status: int) -> None:
        with self._lock:
            self._by_status[str(status)] += 1

    def admit(self, now: float) -> StripeError | None:
        """``None`` to go ahead, or the error to answer instead of executing."""
        settings = self._settings()
        limit = settings.rate_limit_per_second
        with self._lock:
            if limit > 0:
                while self._admitted and self._admitted[0] <= now - 1.0:
                    self._admitted.popleft()
                if len(self._admitted) >= limit:
                    self._rate_limited += 1
                    return _rate_limit_error()
            if self._random.chance(settings.rate_limit_error_rate):
                self._injected_429 += 1
                return _rate_limit_error()
            if self._random.chance(settings.error_rate):
                self._injected_500 += 1
                return StripeError(
                    500,
                    "An unexpected error occurred (injected by the Stripe emulator's error_rate). "
                    "Nothing was executed.",
                    error_type="api_error",
                )
            if limit > 0:
                self._admitted.append(now)
        return None

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self._requests,
                "by_status": dict(self._by_status),
                "injected_500": self._injected_500,
                "injected_429": self._injected_429,
                "rate_limited": self._rate_limited,
                "max_requests_in_any_1s_window": self._max_in_window,
                "arrivals": list(self._arrivals),
            }


def _rate_limit_error() -> StripeError:
    return StripeError(429, RATE_LIMIT_MESSAGE, code="rate_limit")
