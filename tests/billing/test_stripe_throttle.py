from __future__ import annotations

import threading
import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured
from hypothesis import given
from hypothesis import strategies as st

from billing.stripe_gateway import StripeGateway
from billing.stripe_throttle import RequestThrottle, max_in_any_window


def test_max_in_any_window_counts_half_open_windows():
    assert max_in_any_window([]) == 0
    assert max_in_any_window([0.0, 0.5, 0.999]) == 3
    assert max_in_any_window([0.0, 0.5, 1.0]) == 2
    assert max_in_any_window([0.0, 1.0, 2.0, 2.1, 2.2]) == 3


@given(st.lists(st.floats(min_value=0, max_value=10, allow_nan=False), max_size=60))
def test_max_in_any_window_matches_brute_force(stamps):
    brute = max((sum(1 for s in stamps if t <= s < t + 1.0) for t in stamps), default=0)
    assert max_in_any_window(stamps) == brute


def test_concurrent_callers_share_one_rate(settings):
    """Four threads with their own throttle objects (as four workers would be) ask for 60
    requests at 40/s against the same Redis key: the slots handed out never exceed 40 in any
    second, and they are all handed out."""
    key = f"test-throttle:{uuid.uuid4()}"
    rate = 40
    throttles = [
        RequestThrottle(redis_url=settings.REDIS_URL, key=key, requests_per_second=rate)
        for _ in range(4)
    ]

    def worker(throttle: RequestThrottle) -> None:
        for _ in range(15):
            throttle.acquire()

    threads = [threading.Thread(target=worker, args=(t,)) for t in throttles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    slots = [slot for throttle in throttles for slot in throttle.recent_slots]
    assert len(slots) == 60
    assert max_in_any_window(slots) <= rate
    assert max(slots) - min(slots) >= (60 - 1) / rate * 0.99  # evenly spaced, not bunched


def test_a_live_key_is_refused_unless_allowed():
    with pytest.raises(ImproperlyConfigured, match="live"):
        StripeGateway(
            api_key="sk_live_123",
            api_base="https://api.stripe.com",
            timeout_seconds=1,
            throttle=None,
        )
    allowed = StripeGateway(
        api_key="sk_live_123",
        api_base="https://api.stripe.com",
        timeout_seconds=1,
        throttle=None,
        allow_live_keys=True,
    )
    assert allowed.throttle is None
