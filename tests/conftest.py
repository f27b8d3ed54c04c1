from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import access_token_issue
from tests.emulator_process import EmulatorProcess
from tests.factories import TEST_PASSWORD

# Every log record of the session is scanned for card numbers, passwords, tokens, Stripe
# secrets and dates of birth; a leak fails the run (tests/log_privacy_plugin.py).
pytest_plugins = ["tests.log_privacy_plugin"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that really commits (transaction=True, transactional_db, live_server) gets a
    serialized rollback: the data the migrations seed (catalog, markets, partners) is restored
    after it, and Django's flush does not recreate content types behind the next test's back."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        names = set(getattr(item, "fixturenames", ()))
        uses_commits = bool({"transactional_db", "live_server"} & names)
        if marker is not None:
            if (marker.kwargs.get("transaction") or uses_commits) and not marker.kwargs.get(
                "serialized_rollback"
            ):
                kwargs = {**marker.kwargs, "transaction": True, "serialized_rollback": True}
                item.add_marker(pytest.mark.django_db(*marker.args, **kwargs), append=False)
        elif uses_commits and "django_db_serialized_rollback" not in names:
            item.fixturenames.append("django_db_serialized_rollback")  # type: ignore[attr-defined]


# The suite keeps its Redis keys (rate-limit counters, the Stripe throttle) in their own Redis
# database so that a running development system is not disturbed and every test starts clean.
# Tests use (and flush) one Redis database of their own; two test runs at once on one Redis
# need different ones (TEST_REDIS_DATABASE=14 …), or one run's flush resets the other's keys.
TEST_REDIS_DATABASE = int(os.environ.get("TEST_REDIS_DATABASE", "15"))


def redis_url_with_database(url: str, database: int) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = dict(parse_qsl(parts.query))
        query["db"] = str(database)
        return f"unix://{parts.path}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.fixture(autouse=True)
def _isolated_cache(settings: Any) -> Iterator[None]:
    settings.REDIS_URL = redis_url_with_database(settings.REDIS_URL, TEST_REDIS_DATABASE)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_URL,
            "KEY_PREFIX": "tests",
        }
    }
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _celery_in_process(settings: Any) -> Iterator[None]:
    """Tasks queued by the code under test run in the test's process (after the commit that
    queues them), and the outbox is pushed explicitly by the tests that want it, so nothing is
    left in the real broker and no test depends on a running worker."""
    from config.celery import app

    settings.STRIPE_OUTBOX_WAKE_ON_COMMIT = False
    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Tests hash many passwords; production uses Django's default (PBKDF2). The hasher is MD5
    that also remembers each password, for the log privacy scan."""
    settings.PASSWORD_HASHERS = ["tests.log_privacy_plugin.RecordingPasswordHasher"]


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for() -> Callable[[User], APIClient]:
    """An APIClient authenticated as `user` with a real bearer token from the token service."""

    def make(user: User) -> APIClient:
        issued = access_token_issue(email=user.email, password=TEST_PASSWORD)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.token}")
        return client

    return make


# --- the Stripe emulator ------------------------------------------------------------------------
# Tests that talk to Stripe talk to the project's Stripe emulator, through the real SDK over
# HTTP: one emulator process for the session, wiped before each test that uses it.

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
