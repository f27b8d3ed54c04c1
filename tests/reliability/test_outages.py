"""Outages of what the system leans on: the Stripe emulator down for a while, Redis restarted.

- Stripe down: pushes fail with network errors and back off (each failure counted in the
  command's attempts, the next attempt scheduled later: no busy loop); when Stripe is back,
  every invoice lands once and is charged once. The emulator keeps its data directory, so its
  state survives the restart like Stripe's.
- Redis down: the rate-limited endpoints (login, sign-up) fail closed with a 503 `unavailable`
  in the error format and a Retry-After (their limits guard against password guessing and card
  testing, so they do not run unlimited); endpoints that do not need Redis keep answering; the
  health check names the broker. The Stripe throttle fails closed too: no request goes to
  Stripe without a slot, the step is retried later, nothing is sent twice. A Celery worker
  reconnects to the restarted Redis (append-only file on, so its queue survives) and the work
  completes once.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.db.models import Max, Sum
from django.test import Client
from django.utils import timezone

from accounts.models import User
from billing.models import StripeCommand, StripeCommandStatus
from billing.stripe_outbox import PushReport, stripe_outbox_push
from tests.api_assertions import assert_error
from tests.billing.factories import member_customer, member_invoice
from tests.celery_worker_process import CeleryWorkers, task_send, worker_environment
from tests.emulator_process import EmulatorProcess
from tests.factories import TEST_PASSWORD
from tests.memberships.factories import active_membership
from tests.redis_process import RedisProcess
from tests.reliability.recovery_checks import (
    PUSH_TASK,
    assert_recovered,
    beat_until_drained,
    outbox_busy,
    paid_invoices,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)

INVOICES = 20
OUTAGE_SECONDS = 3.0
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 2.0


def attempts_so_far() -> int:
    return int(StripeCommand.objects.aggregate(n=Sum("attempts"))["n"] or 0)


def unfinished_commands() -> int:
    return StripeCommand.objects.exclude(status=StripeCommandStatus.DONE).count()


def invoices_for(customers: int, invoices: int) -> None:
    payers = [member_customer() for _ in range(customers)]
    for n in range(invoices):
        member_invoice(payers[n % customers], 900 + n)


class Pusher:
    """The outbox pusher in a thread of this process, run round after round (as beat would,
    but without its 10 s pause) until stopped."""

    def __init__(self) -> None:
        self.reports: list[PushReport] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Pusher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                report = stripe_outbox_push(run_seconds=1)
                self.reports.append(report)
                if report.claimed == 0:
                    time.sleep(0.05)
        finally:
            connection.close()


# --- Stripe down, then back ---------------------------------------------------------------------


@pytest.fixture
def own_emulator(tmp_path: Path, settings: Any) -> Iterator[EmulatorProcess]:
    """An emulator of this test's own (the shared one is not to be stopped), each request
    slowed a little so that the outage lands mid-push."""
    emulator = EmulatorProcess(
        data_dir=tmp_path / "stripe", rate_limit_per_second=0, latency_ms=20
    ).start()
    settings.STRIPE_API_BASE = emulator.api_base
    settings.STRIPE_API_KEY = "sk_test_emulator"
    settings.STRIPE_MAX_REQUESTS_PER_SECOND = 0
    settings.STRIPE_TIMEOUT_SECONDS = 2
    settings.STRIPE_OUTBOX_BACKOFF_BASE_SECONDS = BACKOFF_BASE_SECONDS
    settings.STRIPE_OUTBOX_BACKOFF_MAX_SECONDS = BACKOFF_MAX_SECONDS
    settings.STRIPE_OUTBOX_MAX_ATTEMPTS = 100
    yield emulator
    emulator.stop()


def test_stripe_down_for_a_while_then_back_every_invoice_lands_once(own_emulator):
    invoices_for(customers=5, invoices=INVOICES)

    with Pusher() as pusher:
        wait_for(lambda: paid_invoices() >= 4, timeout=60, what="a few invoices to be paid")
        own_emulator.stop()  # Stripe unreachable: connections refused
        paid_at_outage = paid_invoices()
        waiting = unfinished_commands()
        attempts_before = attempts_so_far()
        time.sleep(OUTAGE_SECONDS)
        attempts_during = attempts_so_far() - attempts_before
        errors = set(
            StripeCommand.objects.exclude(last_error="").values_list("last_error", flat=True)
        )
        retried_during = sum(report.retried for report in pusher.reports)
        backed_off = StripeCommand.objects.filter(
            status=StripeCommandStatus.PENDING, attempts__gt=1
        )
        waiting_later = backed_off.filter(next_attempt_at__gt=timezone.now()).count()
        retried_commands = backed_off.count()
        own_emulator.start()  # same port, same data directory
        wait_for(lambda: not outbox_busy(), timeout=90, what="the outbox to drain")

    assert 0 < paid_at_outage < INVOICES, "the outage did not land mid-push"
    # Pushes were tried during the outage, failed as network errors, and backed off: each
    # failure put its command back with its next attempt later (0.5 s doubling up to 2 s, times
    # 0.5 to 1.0 jitter: at most 6 tries in 3 s); a busy loop would retry at once.
    assert attempts_during > 0
    assert attempts_during <= waiting * 6, (attempts_during, waiting)
    assert retried_commands > 0
    assert waiting_later >= retried_commands / 2, (waiting_later, retried_commands)
    assert errors
    assert all(error.startswith("network:") for error in errors), errors
    assert retried_during > 0
    assert sum(report.failed for report in pusher.reports) == 0

    recovery = assert_recovered(own_emulator, invoices=INVOICES)
    most = StripeCommand.objects.aggregate(n=Max("attempts"))["n"]
    sys.stdout.write(
        f"\n[Stripe down {OUTAGE_SECONDS:.0f} s at {paid_at_outage}/{INVOICES} paid: "
        f"{attempts_during} attempts by {waiting} waiting commands during the outage, "
        f"{waiting_later} of {retried_commands} retried ones scheduled later at its end "
        f"(most for one command overall: {most})] {recovery}\n"
    )


# --- Redis down: the API's answers ----------------------------------------------------------------


@pytest.fixture
def own_redis(tmp_path: Path, settings: Any) -> Iterator[RedisProcess]:
    """A Redis of this test's own as the cache (rate-limit counters) and the broker."""
    server = RedisProcess(data_dir=tmp_path / "redis").start()
    shared_caches = settings.CACHES
    settings.REDIS_URL = server.url(0)
    settings.CELERY_BROKER_URL = server.url(0)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": server.url(0),
            "KEY_PREFIX": "tests",
        }
    }
    yield server
    settings.CACHES = shared_caches  # the suite's cleanup clears the shared Redis, not this one
    server.stop()


def login(api_client: Any, user: User) -> Any:
    return api_client.post(
        "/api/v1/auth/token/", {"email": user.email, "password": TEST_PASSWORD}, format="json"
    )


def test_redis_down_rate_limited_endpoints_fail_closed_others_keep_working(
    own_redis, api_client, client_for
):
    membership = active_membership()
    user = membership.member.user
    member = client_for(user)
    assert login(api_client, user).status_code == 201
    users_before = User.objects.count()

    own_redis.stop()
    refused = login(api_client, user)
    signup = api_client.post("/api/v1/signup/", {"email": "new@example.com"}, format="json")
    page = Client().post("/login/", {"username": user.email, "password": TEST_PASSWORD})
    mine = member.get("/api/v1/me/membership/")
    health = api_client.get("/healthz")

    error = assert_error(refused, 503, "unavailable")
    assert refused["Retry-After"] == "5"
    assert error["details"] == {"retry_after_seconds": 5}
    assert_error(signup, 503, "unavailable")  # refused before the body is even read
    assert User.objects.count() == users_before
    assert (page.status_code, page["Retry-After"]) == (503, "5")  # the web login page too
    assert "_auth_user_id" not in page.client.session
    assert mine.status_code == 200  # bearer tokens live in PostgreSQL
    assert mine.json()["id"] == membership.pk
    assert_error(health, 503, "unavailable")
    assert health.json()["error"]["details"]["checks"]["broker"]["ok"] is False

    own_redis.start()
    assert login(api_client, user).status_code == 201
    assert api_client.get("/healthz").status_code == 200


# --- Redis restarted under a working Celery worker ---------------------------------------------


def test_redis_restarted_mid_push_the_worker_reconnects_and_every_invoice_lands_once(
    tmp_path, stripe_emulator
):
    with RedisProcess(data_dir=tmp_path / "redis") as broker:
        workers = CeleryWorkers(
            log_dir=tmp_path / "workers",
            environment=worker_environment(
                broker_url=broker.url(0),
                stripe_api_base=stripe_emulator.api_base,
                CELERY_BROKER_VISIBILITY_TIMEOUT_SECONDS="8",
                STRIPE_MAX_REQUESTS_PER_SECOND="100",  # the throttle lives in this Redis
                STRIPE_OUTBOX_LEASE_SECONDS="3",
                STRIPE_OUTBOX_RUN_SECONDS="5",
                STRIPE_OUTBOX_BACKOFF_BASE_SECONDS="0.1",
                STRIPE_OUTBOX_BACKOFF_MAX_SECONDS="0.5",
            ),
        )
        try:
            invoices_for(customers=5, invoices=INVOICES)
            stripe_emulator.configure(latency_ms=30)
            worker = workers.start()
            task_send(broker_url=broker.url(0), task_name=PUSH_TASK)
            wait_for(lambda: paid_invoices() >= 3, timeout=60, what="a few invoices to be paid")

            broker.stop()  # SIGTERM: Redis syncs its append-only file and exits
            paid_at_outage = paid_invoices()
            time.sleep(1)  # the request in flight (if any) has finished
            requests_then = stripe_emulator.stats()["requests"]
            time.sleep(OUTAGE_SECONDS)
            requests_during = stripe_emulator.stats()["requests"] - requests_then
            throttle_errors = StripeCommand.objects.filter(
                last_error__contains="throttle is unavailable"
            ).count()
            broker.start()

            # Beat's next ticks reach the worker only if it reconnected.
            ticks = beat_until_drained(broker_url=broker.url(0), worker=worker, ticks=20)
            assert worker.running
            assert worker.log_text().count("] Connected to ") >= 2  # reconnected
        finally:
            workers.kill_all()

    assert 0 < paid_at_outage < INVOICES, "the restart did not land mid-push"
    assert requests_during == 0  # no slot from the throttle, no request to Stripe
    assert throttle_errors > 0  # the steps that wanted a slot were put back for later
    recovery = assert_recovered(stripe_emulator, invoices=INVOICES)
    sys.stdout.write(
        f"\n[Redis down {OUTAGE_SECONDS:.0f} s at {paid_at_outage}/{INVOICES} paid: "
        f"{requests_during} Stripe requests during it, {throttle_errors} commands put back "
        f"for want of a throttle slot; {ticks} push ticks after] {recovery}\n"
    )
