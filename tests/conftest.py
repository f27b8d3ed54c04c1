from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import access_token_issue
from tests.factories import TEST_PASSWORD

# The suite keeps its Redis keys (rate-limit counters, the Stripe throttle) in their own Redis
# database so that a running development system is not disturbed and every test starts clean.
TEST_REDIS_DATABASE = 15


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
    """Tests hash many passwords; production uses Django's default (PBKDF2)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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
