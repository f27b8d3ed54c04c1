"""Billing tests that talk to Stripe talk to the project's Stripe emulator, through the real SDK
over HTTP: one emulator process for the session, wiped before each test that uses it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.emulator_process import EmulatorProcess

QUIET = {
    "latency_ms": 0,
    "error_rate": 0.0,
    "rate_limit_error_rate": 0.0,
    "rate_limit_per_second": 0,
    "webhook_url": None,
    "webhook_duplicates": 1,
    "webhook_shuffle": False,
}


@pytest.fixture(scope="session")
def stripe_emulator_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    data_dir: Path = tmp_path_factory.mktemp("stripe-emulator")
    process = EmulatorProcess(data_dir=data_dir).start()
    yield process
    process.stop()


@pytest.fixture
def stripe_emulator(stripe_emulator_process: EmulatorProcess, settings: Any) -> EmulatorProcess:
    """A clean, fault-free emulator; the project's settings point at it."""
    stripe_emulator_process.reset()
    stripe_emulator_process.configure(**QUIET)
    stripe_emulator_process.reset_stats()
    settings.STRIPE_API_BASE = stripe_emulator_process.api_base
    settings.STRIPE_API_KEY = "sk_test_emulator"
    settings.STRIPE_MAX_REQUESTS_PER_SECOND = 0  # no throttle unless a test sets one
    settings.STRIPE_OUTBOX_BACKOFF_BASE_SECONDS = 0.01
    settings.STRIPE_OUTBOX_BACKOFF_MAX_SECONDS = 0.2
    return stripe_emulator_process
