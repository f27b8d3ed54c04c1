"""Injected faults, the rate limiter and the statistics."""

from __future__ import annotations

import time

import pytest
import stripe


def test_error_rate_one_answers_500_before_executing(client, emulator):
    emulator.configure(error_rate=1.0)
    with pytest.raises(stripe.APIError) as raised:
        client.v1.customers.create(params={"email": "x@example.com"})
    assert raised.value.http_status == 500
    assert raised.value.json_body["error"]["type"] == "api_error"
    emulator.configure(error_rate=0.0)
    assert emulator.objects("customers")["count"] == 0
    stats = emulator.stats()
    assert (stats["injected_500"], stats["by_status"]) == (1, {"500": 1})


def test_rate_limit_error_rate_one_answers_429(client, emulator):
    emulator.configure(rate_limit_error_rate=1.0)
    with pytest.raises(stripe.RateLimitError) as raised:
        client.v1.events.list()
    assert raised.value.http_status == 429
    assert emulator.stats()["injected_429"] == 1


def test_the_rate_limit_counts_requests_in_a_one_second_window(client, emulator):
    emulator.configure(rate_limit_per_second=5)
    outcomes, errors = [], []
    for _ in range(20):
        try:
            client.v1.events.list(params={"limit": 1})
            outcomes.append(200)
        except stripe.RateLimitError as error:
            outcomes.append(429)
            errors.append(error.json_body["error"])
    stats = emulator.stats()
    assert errors
    assert (errors[0]["type"], errors[0]["code"]) == ("invalid_request_error", "rate_limit")
    assert outcomes.count(200) >= 5
    assert stats["rate_limited"] == outcomes.count(429)
    assert stats["requests"] == 20
    assert len(stats["arrivals"]) == 20
    assert stats["by_status"] == {"200": outcomes.count(200), "429": outcomes.count(429)}
    assert stats["max_requests_in_any_1s_window"] >= 2


def test_latency_is_added_to_each_request(client, emulator):
    emulator.configure(latency_ms=300)
    started = time.monotonic()
    client.v1.events.list()
    assert time.monotonic() - started >= 0.3


def test_a_seed_makes_the_faults_repeatable(client, emulator):
    def outcomes() -> list[int]:
        result = []
        for _ in range(20):
            try:
                client.v1.events.list(params={"limit": 1})
                result.append(200)
            except stripe.APIError:
                result.append(500)
        return result

    emulator.configure(error_rate=0.5, seed=42)
    first = outcomes()
    emulator.configure(seed=None)
    emulator.configure(seed=42)
    assert outcomes() == first
    assert 200 in first
    assert 500 in first


def test_stats_reset(client, emulator):
    client.v1.events.list()
    emulator.reset_stats()
    stats = emulator.stats()
    assert (stats["requests"], stats["arrivals"], stats["by_status"]) == (0, [], {})


def test_bad_settings_are_refused(emulator):
    for bad in ({"error_rate": 2}, {"latency_ms": -1}, {"nonsense": 1}, {"webhook_url": "ftp://x"}):
        with pytest.raises(RuntimeError, match="HTTP 400"):
            emulator.configure(**bad)
    assert emulator.config()["error_rate"] == 0.0
