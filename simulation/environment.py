"""How the simulation runs the system: in one process, the clock frozen on the simulated day.

- Celery tasks run in the caller's process right after the commit that queues them (as in the
  tests), so roster validation/apply, webhook processing and notifications happen on the
  simulated day, under the frozen clock. Nothing is sent to a broker.
- The Stripe pusher is run explicitly, day by day; commits do not wake it.
- No client-side Stripe throttle (the emulator's own rate limit is off too); retries back off
  for 10-200 ms instead of seconds, and an outbox lease lasts `lease_seconds`, so work left by a
  killed worker is taken over within seconds.
- The session does not wait for the disk at commit (`synchronous_commit = off`: a crash of
  PostgreSQL could lose the last commits, never corrupt them; a simulation can be rerun).
- Passwords are hashed with MD5 (thousands of throwaway members; PBKDF2 costs ~0.3 s each) and
  email goes nowhere (Django's dummy backend).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import connection

STRIPE_API_KEY = "sk_test_simulation"
LEASE_SECONDS = 2


@contextmanager
def simulation_settings(
    *, stripe_api_base: str, lease_seconds: int = LEASE_SECONDS
) -> Iterator[None]:
    """This process set up as described in the module docstring, inside the block."""
    from config.celery import app

    changes: dict[str, Any] = {
        "STRIPE_API_BASE": stripe_api_base,
        "STRIPE_API_KEY": STRIPE_API_KEY,
        "STRIPE_OUTBOX_WAKE_ON_COMMIT": False,
        "STRIPE_MAX_REQUESTS_PER_SECOND": 0,
        "STRIPE_OUTBOX_BACKOFF_BASE_SECONDS": 0.01,
        "STRIPE_OUTBOX_BACKOFF_MAX_SECONDS": 0.2,
        "STRIPE_OUTBOX_LEASE_SECONDS": lease_seconds,
        "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],
        "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
    }
    previous = {name: getattr(settings, name) for name in changes}
    eager = app.conf.task_always_eager, app.conf.task_eager_propagates
    for name, value in changes.items():
        setattr(settings, name, value)
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, False
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
    try:
        yield
    finally:
        for name, value in previous.items():
            setattr(settings, name, value)
        app.conf.task_always_eager, app.conf.task_eager_propagates = eager
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO DEFAULT")


def database_url() -> str:
    """A DATABASE_URL naming the database this process is connected to (for a worker process;
    under pytest that is the test database, not the one DATABASE_URL names)."""
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    user = quote(db.get("USER") or "", safe="")
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{user}{password}@{host}{port}/{db['NAME']}"
