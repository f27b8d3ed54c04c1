"""A database connection dropped in the middle of a request.

A sign-up is held inside its transaction: it has written the user, the member, the home market,
the billing customer, the membership, its invoice and the outbox rows, and waits at COMMIT for
a lock the test holds on the price row the membership references (the foreign key check takes
a share lock on it; Django's foreign keys are deferred to the commit). The test then kills its
PostgreSQL backend with `pg_terminate_backend`, as a failover, a restarted server or a network
cut would. Expected: a 503 `database_unavailable` in the one error format, nothing
half-written, the same request retried with the same Idempotency-Key succeeds once, and the
server keeps serving (each request checks its connection first: CONN_HEALTH_CHECKS)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import requests
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import connection

from accounts.models import User
from billing.models import BillingCustomer, Invoice, InvoiceStatus, Payment, StripeCommand
from idempotency.models import IdempotencyRecord, IdempotencyRecordStatus
from memberships.models import Member, MemberMarket, Membership, MembershipStatus, Price
from tests.emulator_process import EmulatorProcess

pytestmark = pytest.mark.django_db(transaction=True)

SIGNUP = {
    "email": "edsger@example.test",
    "password": "a long enough password",
    "full_name": "Edsger Dijkstra",
    "date_of_birth": "1980-05-11",
    "market": "northeast-ohio",
    "price_code": "standard_annual",
    "payment_method_id": "pm_card_visa",
}
KEY = {"Idempotency-Key": "edsger-signup-1"}
WAIT_SECONDS = 30


def other_connection() -> psycopg.Connection[Any]:
    """A connection of the test's own, outside Django, to the same database."""
    params = connection.get_connection_params()
    wanted = {"host", "port", "user", "password", "dbname"}
    return psycopg.connect(**{k: v for k, v in params.items() if k in wanted})


@pytest.fixture
def price_row_locked() -> Iterator[psycopg.Connection[Any]]:
    """Holds FOR UPDATE on the standard annual price: a membership insert referencing it (its
    foreign key check takes FOR KEY SHARE) waits until the lock is released."""
    with other_connection() as holder:
        holder.execute(
            "SELECT id FROM memberships_price WHERE code = %s FOR UPDATE", ["standard_annual"]
        )
        yield holder
        holder.rollback()


def backend_waiting_on_a_lock(observer: psycopg.Connection[Any]) -> tuple[int, str]:
    """The pid and statement of the one backend of this database that waits for a lock."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        rows = observer.execute(
            "SELECT pid, query FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        ).fetchall()
        if rows:
            [(pid, query)] = rows
            return int(pid), str(query)
        time.sleep(0.02)
    raise AssertionError("no backend waited for the lock")


def post_signup(url: str, answers: list[requests.Response]) -> threading.Thread:
    def send() -> None:
        answers.append(requests.post(url, json=SIGNUP, headers=KEY, timeout=60))

    thread = threading.Thread(target=send)
    thread.start()
    return thread


def test_a_signup_whose_connection_is_killed_mid_transaction_is_a_503_and_its_retry_succeeds(
    live_server, stripe_emulator: EmulatorProcess, price_row_locked
):
    url = f"{live_server.url}/api/v1/signup/"
    answers: list[requests.Response] = []

    with other_connection() as observer:
        observer.autocommit = True
        request = post_signup(url, answers)
        pid, statement = backend_waiting_on_a_lock(observer)
        # The membership's foreign keys are checked at COMMIT (Django makes them deferrable):
        # the sign-up waits there with all its rows written, uncommitted.
        assert statement == "COMMIT"
        [[killed]] = observer.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchall()
        assert killed is True
        request.join(timeout=WAIT_SECONDS)
    price_row_locked.rollback()

    [dropped] = answers
    assert dropped.status_code == 503, dropped.text
    error = dropped.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == "database_unavailable"
    assert dropped.headers["Retry-After"] == "1"
    # Nothing half-written: the transaction died with the connection.
    assert not User.objects.exists()
    assert not Member.objects.exists()
    assert not MemberMarket.objects.exists()
    assert not BillingCustomer.objects.exists()
    assert not Membership.objects.exists()
    assert not StripeCommand.objects.exists()
    # The key was released (a 5xx is not stored), so the retry runs the sign-up again.
    assert not IdempotencyRecord.objects.exists()
    assert stripe_emulator.objects("customers")["count"] == 0

    retried = requests.post(url, json=SIGNUP, headers=KEY, timeout=60)
    replayed = requests.post(url, json=SIGNUP, headers=KEY, timeout=60)

    assert retried.status_code == 201, retried.text
    assert (replayed.status_code, replayed.content) == (201, retried.content)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert User.objects.count() == 1
    assert Membership.objects.get().status == MembershipStatus.ACTIVE
    invoice = Invoice.objects.get()
    assert (invoice.status, invoice.total_cents) == (InvoiceStatus.PAID, 19900)
    assert Payment.objects.get().amount_cents == 19900
    assert IdempotencyRecord.objects.get().status == IdempotencyRecordStatus.COMPLETED
    assert stripe_emulator.objects("customers")["count"] == 1
    assert stripe_emulator.objects("charges")["count"] == 1
    assert Price.objects.filter(code="standard_annual").exists()

    # The server goes on serving: a plain read on a fresh request, and the health check.
    assert requests.get(f"{live_server.url}/healthz", timeout=30).status_code == 200


def test_a_connection_killed_while_idle_is_replaced_at_the_next_request():
    """Between requests a worker keeps its connection (CONN_MAX_AGE); if PostgreSQL drops it
    meanwhile, the next request must not fail on it. Django checks a reused connection at the
    start of each request when CONN_HEALTH_CHECKS is on (settings.py turns it on)."""
    assert User.objects.count() == 0  # the connection is open now, as after a request
    pid = connection.connection.info.backend_pid
    with other_connection() as observer:
        observer.autocommit = True
        [[killed]] = observer.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchall()
    assert killed is True

    request_started.send(sender=WSGIHandler, environ={})  # what a server does per request
    assert User.objects.count() == 0
    assert connection.connection.info.backend_pid != pid
    request_finished.send(sender=WSGIHandler)
