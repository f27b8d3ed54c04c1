"""How the simulation runs the system: in one process, the clock frozen on the simulated day.

- Celery tasks run in the caller's process right after the commit that queues them (as in the
  tests), so roster validation/apply, webhook processing and notifications happen on the
  simulated day, under the frozen clock. Nothing is sent to a broker.
- The Stripe pusher is run explicitly, day by day; commits do not wake it.
- No client-side Stripe throttle (the emulator's own rate limit is off too); retries back off
  for 10-200 ms instead of seconds, and an outbox lease lasts `lease_seconds`, so work left by a
  killed worker is taken over within seconds.
- Passwords are hashed with MD5 (thousands of throwaway members; PBKDF2 costs ~0.3 s each) and
  email goes nowhere (Django's dummy backend).
"""

from __future__ import annotations

from django.conf import settings

STRIPE_API_KEY = "sk_test_simulation"
LEASE_SECONDS = 3


def simulation_settings_apply(*, stripe_api_base: str, lease_seconds: int = LEASE_SECONDS) -> None:
    """Set this process up as described in the module docstring."""
    from config.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = False
    settings.STRIPE_API_BASE = stripe_api_base
    settings.STRIPE_API_KEY = STRIPE_API_KEY
    settings.STRIPE_OUTBOX_WAKE_ON_COMMIT = False
    settings.STRIPE_MAX_REQUESTS_PER_SECOND = 0
    settings.STRIPE_OUTBOX_BACKOFF_BASE_SECONDS = 0.01
    settings.STRIPE_OUTBOX_BACKOFF_MAX_SECONDS = 0.2
    settings.STRIPE_OUTBOX_LEASE_SECONDS = lease_seconds
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
