"""Concurrency: the same work started many times at once ends with exactly one effect.

Each test races real threads (each with its own PostgreSQL connection) through the real stack:
the threaded live server over HTTP, the Stripe emulator through the real SDK, the ledger's
posting receivers. Each then counts the effect three ways: local rows, the Stripe emulator's
objects (after the outbox has pushed everything), and the ledger (one journal entry per business
event, every entry balanced, the trial balance zero)."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
import requests
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.servers.basehttp import ThreadedWSGIServer
from django.db import connection
from django.db.models import Sum
from django.test.testcases import LiveServerThread
from rest_framework.throttling import ScopedRateThrottle

from accounts.models import Role, User
from accounts.services import access_token_issue
from billing.models import (
    CollectionMethod,
    Invoice,
    InvoiceLine,
    InvoiceLineKind,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    StripeCommand,
    StripeEvent,
)
from billing.services import InvoiceLineInput, invoice_create
from billing.stripe_outbox import stripe_outbox_push
from employers.imports import (
    COLUMNS,
    roster_import_apply,
    roster_import_confirm,
    roster_import_create,
    roster_import_validate,
)
from employers.models import Employer, RosterChange, RosterEntry, RosterImport, RosterImportStatus
from ledger import chart
from ledger.models import JournalEntry, Posting
from memberships.models import Member, Membership, MembershipStatus
from memberships.renewals import memberships_renew_due
from tests.billing.factories import employer_customer
from tests.billing.stripe_payloads import signed
from tests.emulator_process import EmulatorProcess
from tests.factories import TEST_PASSWORD, EmployerFactory, user_with_role
from tests.ledger.ledger_checks import trial_balance_cents, unbalanced_entries
from tests.memberships.factories import JAN_1, active_membership

pytestmark = pytest.mark.django_db(transaction=True)

T = TypeVar("T")


class _WideBacklogServer(ThreadedWSGIServer):
    # Django's test server listens with a backlog of 10, so 50 clients connecting at once get
    # connection resets before the application sees them; a production server's is far larger.
    request_queue_size = 128


class _WideLiveServerThread(LiveServerThread):
    server_class = _WideBacklogServer


@pytest.fixture
def wide_live_server(transactional_db: None) -> Iterator[str]:
    """The live server (threaded, a database connection per request) with a wide backlog;
    yields its base URL."""
    thread = _WideLiveServerThread("127.0.0.1", static_handler=StaticFilesHandler)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    yield f"http://127.0.0.1:{thread.port}"
    thread.terminate()


def all_at_once(count: int, work: Callable[[int], T]) -> list[T]:
    """Run `work(0)` … `work(count - 1)` on `count` threads released together; every thread
    closes its own database connection. Re-raises the first failure of any thread."""
    start = threading.Barrier(count)
    results: list[T | None] = [None] * count
    failures: list[BaseException] = []

    def run(index: int) -> None:
        try:
            start.wait()
            results[index] = work(index)
        except BaseException as exc:  # re-raised below, in the test's thread
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(thread.is_alive() for thread in threads), "a thread is still running"
    if failures:
        raise failures[0]
    return [result for result in results if result is not None]


@dataclass(frozen=True)
class Answer:
    status: int
    replayed: bool
    body: bytes

    @property
    def error_code(self) -> str | None:
        if self.status < 400:
            return None
        error = json.loads(self.body)["error"]
        assert set(error) == {"code", "message", "details"}, error  # the one error format
        return str(error["code"])


def answer_of(response: requests.Response) -> Answer:
    return Answer(
        status=response.status_code,
        replayed=response.headers.get("Idempotent-Replayed") == "true",
        body=response.content,
    )


def drain_outbox() -> None:
    """Push every queued Stripe command (fee fetches queued by payments included)."""
    stripe_outbox_push(run_seconds=120)
    assert not StripeCommand.objects.exclude(status="done").exists(), list(
        StripeCommand.objects.exclude(status="done").values("kind", "status", "last_error")
    )


def stripe_objects(emulator: EmulatorProcess, object_type: str, **filters: str) -> list[Any]:
    found = emulator.objects(object_type, limit="10000", **filters)
    assert found["count"] == len(found["data"])
    return list(found["data"])


def assert_books_hold_each_effect_once() -> Counter[str]:
    """Exactly one journal entry per business event the local rows record (each finalized
    invoice, each succeeded payment, each fetched Stripe fee), no other, every entry balanced,
    the trial balance zero, and the cash posted equal to what the payments took. Returns the
    entries counted by kind."""
    expected = {
        f"invoice:{pk}:finalized"
        for pk in Invoice.objects.exclude(status=InvoiceStatus.DRAFT).values_list("pk", flat=True)
    }
    succeeded = Payment.objects.filter(status=PaymentStatus.SUCCEEDED)
    expected |= {f"payment:{pk}" for pk in succeeded.values_list("pk", flat=True)}
    expected |= {
        f"payment:{pk}:fee"
        for pk in succeeded.filter(stripe_fee_cents__isnull=False).values_list("pk", flat=True)
    }
    keys = list(JournalEntry.objects.values_list("idempotency_key", flat=True))
    assert sorted(keys) == sorted(expected)
    assert unbalanced_entries() == []
    assert trial_balance_cents() == 0
    cash_in = Posting.objects.filter(
        entry__kind="payment", account__code=chart.CASH_STRIPE
    ).aggregate(total=Sum("amount_cents"))["total"]
    assert cash_in == succeeded.aggregate(total=Sum("amount_cents"))["total"]
    return Counter(JournalEntry.objects.values_list("kind", flat=True))


def assert_stripe_charged_each_invoice_once(emulator: EmulatorProcess) -> None:
    """The emulator holds one invoice per local invoice and one succeeded charge per paid
    invoice, of its amount: nothing pushed or charged twice."""
    invoices = stripe_objects(emulator, "invoices")
    local_ids = [invoice["metadata"]["local_invoice_id"] for invoice in invoices]
    assert sorted(local_ids) == sorted(
        str(pk) for pk in Invoice.objects.values_list("pk", flat=True)
    )
    charges = [c for c in stripe_objects(emulator, "charges") if c["status"] == "succeeded"]
    paid = Invoice.objects.filter(status=InvoiceStatus.PAID)
    assert len(charges) == paid.count()
    assert sorted(c["amount"] for c in charges) == sorted(
        paid.values_list("amount_paid_cents", flat=True)
    )
    assert len({c["payment_intent"] for c in charges}) == len(charges)
    assert {c["id"] for c in charges} == set(
        Payment.objects.filter(status=PaymentStatus.SUCCEEDED).values_list(
            "stripe_charge_id", flat=True
        )
    )


# --- 50 identical sign-ups with one Idempotency-Key ---------------------------------------------

SIGNUPS = 50
SIGNUP = {
    "email": "grace@example.test",
    "password": "a long enough password",
    "full_name": "Grace Hopper",
    "date_of_birth": "1986-12-09",
    "market": "northeast-ohio",
    "price_code": "standard_annual",
    "payment_method_id": "pm_card_visa",
}


def test_fifty_identical_signups_with_one_key_make_one_member_and_one_charge(
    wide_live_server, stripe_emulator, monkeypatch
):
    # One client address sends all 50; the per-address sign-up limit is not what is tested.
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "signup", "1000/hour")
    # Each Stripe call takes 100 ms, so the first sign-up is still charging while the others
    # arrive: they meet it in progress.
    stripe_emulator.configure(latency_ms=100)
    url = f"{wide_live_server}/api/v1/signup/"

    def sign_up(_: int) -> Answer:
        return answer_of(
            requests.post(
                url, json=SIGNUP, headers={"Idempotency-Key": "grace-signup-1"}, timeout=120
            )
        )

    first_wave = all_at_once(SIGNUPS, sign_up)
    second_wave = all_at_once(SIGNUPS, sign_up)

    assert len(first_wave) == len(second_wave) == SIGNUPS
    [original] = [a for a in first_wave if a.status == 201 and not a.replayed]
    in_progress = [a for a in first_wave if a.error_code == "idempotency_key_in_use"]
    replays = [a for a in first_wave + second_wave if a.replayed]
    for answer in first_wave + second_wave:
        assert answer is original or answer in in_progress or answer in replays, answer
        assert answer.status < 500, answer
    assert all(a.status == 409 for a in in_progress)
    assert all((a.status, a.body) == (201, original.body) for a in replays)
    assert in_progress, "no request met the first one in progress: the race did not happen"
    assert all(a.replayed for a in second_wave)
    print(  # noqa: T201  (figures for the report: pytest -s)
        f"\nsign-ups: {2 * SIGNUPS} requests, 1 original, {len(in_progress)} in progress (409), "
        f"{len(replays)} replays"
    )

    drain_outbox()
    assert User.objects.count() == Member.objects.count() == 1
    membership = Membership.objects.get()
    assert membership.status == MembershipStatus.ACTIVE
    invoice = Invoice.objects.get()
    assert (invoice.status, invoice.total_cents) == (InvoiceStatus.PAID, 19900)
    assert Payment.objects.filter(status=PaymentStatus.SUCCEEDED).count() == 1
    assert not Payment.objects.exclude(status=PaymentStatus.SUCCEEDED).exists()
    assert len(stripe_objects(stripe_emulator, "customers")) == 1
    assert_stripe_charged_each_invoice_once(stripe_emulator)
    kinds = assert_books_hold_each_effect_once()
    assert kinds == {"invoice_finalized": 1, "payment": 1, "stripe_fee": 1}


# --- concurrent bill runs ------------------------------------------------------------------------

# 100 keeps the test command's budget (each renewal is ~7 Stripe calls through the emulator);
# RELIABILITY_BILL_RUN_MEMBERSHIPS=1000 races more.
DUE_MEMBERSHIPS = int(os.environ.get("RELIABILITY_BILL_RUN_MEMBERSHIPS", "100"))
BILL_RUNS = 4
PUSHERS = 2
RENEWAL_DAY = dt.date(2027, 2, 1)


def test_concurrent_bill_runs_and_pushers_invoice_and_charge_each_renewal_once(stripe_emulator):
    memberships = [active_membership() for _ in range(DUE_MEMBERSHIPS)]

    # Four bill runs for the same day and two Stripe pushers, all at once: the runs claim
    # memberships in small chunks while the pushers send what the runs have committed.
    def work(index: int) -> tuple[str, int]:
        if index < BILL_RUNS:
            return "renewed", memberships_renew_due(as_of=RENEWAL_DAY, chunk_size=9).renewed
        return "pushed", stripe_outbox_push(run_seconds=60).done

    outcomes = all_at_once(BILL_RUNS + PUSHERS, work)
    again = memberships_renew_due(as_of=RENEWAL_DAY)  # a late re-run finds nothing to do
    drain_outbox()

    renewed = [count for what, count in outcomes if what == "renewed"]
    print(  # noqa: T201
        f"\nbill runs: {BILL_RUNS} runs renewed {renewed}, pushers pushed "
        f"{[c for what, c in outcomes if what == 'pushed']}, late re-run {again.renewed}"
    )
    assert sum(renewed) == DUE_MEMBERSHIPS
    assert again.renewed == 0
    fees = InvoiceLine.objects.filter(kind=InvoiceLineKind.MEMBERSHIP_FEE)
    per_membership = Counter(fees.values_list("membership_id", flat=True))
    assert per_membership == Counter({m.pk: 1 for m in memberships})
    assert set(fees.values_list("period_start", flat=True)) == {RENEWAL_DAY}
    assert Invoice.objects.count() == DUE_MEMBERSHIPS
    assert Invoice.objects.filter(status=InvoiceStatus.PAID).count() == DUE_MEMBERSHIPS
    assert Payment.objects.count() == DUE_MEMBERSHIPS  # no failed or duplicate attempt either
    assert Membership.objects.filter(
        current_period_start=RENEWAL_DAY, status=MembershipStatus.ACTIVE
    ).count() == (DUE_MEMBERSHIPS)
    assert_stripe_charged_each_invoice_once(stripe_emulator)
    assert len(stripe_objects(stripe_emulator, "customers")) == DUE_MEMBERSHIPS
    kinds = assert_books_hold_each_effect_once()
    assert kinds == {
        "invoice_finalized": DUE_MEMBERSHIPS,
        "payment": DUE_MEMBERSHIPS,
        "stripe_fee": DUE_MEMBERSHIPS,
    }


# --- one webhook delivered 20 times at once ------------------------------------------------------

DELIVERIES = 20


def test_one_webhook_delivered_twenty_times_at_once_records_one_payment(
    wide_live_server, stripe_emulator, settings
):
    # An employer's invoice, sent by Stripe for payment on net terms: only the webhook tells
    # this system that it was paid.
    invoice = invoice_create(
        customer=employer_customer(),
        lines=[
            InvoiceLineInput(
                description="January seats",
                amount_cents=123_45,
                period_start=JAN_1,
                period_end=dt.date(2027, 1, 31),
                kind=InvoiceLineKind.EMPLOYER_SEAT,
            )
        ],
        collection_method=CollectionMethod.SEND_INVOICE,
        days_until_due=30,
    )
    drain_outbox()
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN
    # The employer pays in Stripe; Stripe records the event `invoice.paid`.
    stripe_api = f"{stripe_emulator.api_base}/v1"
    auth = (settings.STRIPE_API_KEY, "")
    paid = requests.post(
        f"{stripe_api}/invoices/{invoice.stripe_invoice_id}/pay",
        data={"payment_method": "pm_card_visa"},
        auth=auth,
        timeout=30,
    )
    assert paid.status_code == 200, paid.text
    events = requests.get(
        f"{stripe_api}/events", params={"type": "invoice.paid"}, auth=auth, timeout=30
    ).json()["data"]
    [event] = [e for e in events if e["data"]["object"]["id"] == invoice.stripe_invoice_id]
    body = json.dumps(event).encode()
    signature = signed(body, settings.STRIPE_WEBHOOK_SECRET)

    def deliver(_: int) -> tuple[int, Any]:
        response = requests.post(
            f"{wide_live_server}/webhooks/stripe/",
            data=body,
            headers={"Content-Type": "application/json", "Stripe-Signature": signature},
            timeout=60,
        )
        return response.status_code, response.json()

    answers = all_at_once(DELIVERIES, deliver)
    drain_outbox()  # the payment's fee fetch

    assert [status for status, _ in answers] == [200] * DELIVERIES
    assert sorted(a["duplicate"] for _, a in answers) == [False] + [True] * (DELIVERIES - 1)
    stored = StripeEvent.objects.get()
    assert stored.stripe_event_id == event["id"]
    assert stored.processed_at is not None
    assert stored.processing_attempts == 1
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid_cents) == (InvoiceStatus.PAID, 123_45)
    payment = Payment.objects.get()
    assert (payment.status, payment.amount_cents) == (PaymentStatus.SUCCEEDED, 123_45)
    assert_stripe_charged_each_invoice_once(stripe_emulator)
    kinds = assert_books_hold_each_effect_once()
    assert kinds == {"invoice_finalized": 1, "payment": 1, "stripe_fee": 1}
    print(  # noqa: T201
        f"\nwebhook: {DELIVERIES} deliveries, 1 stored, "
        f"{sum(a['duplicate'] for _, a in answers)} duplicates answered 200, 1 payment"
    )


# --- concurrent roster imports for one employer --------------------------------------------------

# Four files for one employer, overlapping: the same people with other names and end dates,
# new people, and one full replacement (which ends whoever it does not list).
ROSTER_FILES: list[tuple[range, bool]] = [
    (range(0, 60), False),
    (range(30, 90), False),
    (range(20, 80), True),
    (range(50, 110), False),
]


def roster_csv(version: int, numbers: range) -> bytes:
    lines = [",".join(COLUMNS)]
    for n in numbers:
        values = {
            "external_id": f"E{n:04d}",
            "full_name": f"Employee {n} v{version}",
            "work_email": f"employee{n}@acme.example",
            "date_of_birth": "1990-05-17",
            "eligible_from": "2026-01-01",
            "eligible_until": "2027-06-30" if (n + version) % 3 == 0 else "",
        }
        lines.append(",".join(values[column] for column in COLUMNS))
    return ("\n".join(lines) + "\n").encode()


def roster_of(employer: Employer) -> list[tuple[Any, ...]]:
    return list(
        RosterEntry.objects.filter(employer=employer)
        .order_by("external_id")
        .values_list(
            "external_id",
            "full_name",
            "work_email",
            "date_of_birth",
            "eligible_from",
            "eligible_until",
        )
    )


def history_of(employer: Employer) -> Counter[tuple[str, str, str]]:
    return Counter(
        (external_id, kind, json.dumps(changes, sort_keys=True))
        for external_id, kind, changes in RosterChange.objects.filter(
            employer=employer
        ).values_list("entry__external_id", "kind", "changes")
    )


def test_concurrent_roster_imports_apply_as_if_one_after_another(wide_live_server):
    acme = EmployerFactory.create(name="Acme")
    admin = user_with_role(Role.EMPLOYER_ADMIN, employer=acme)
    token = access_token_issue(email=admin.email, password=TEST_PASSWORD).token
    headers = {"Authorization": f"Bearer {token}"}
    imports_url = f"{wide_live_server}/api/v1/employers/{acme.pk}/roster/imports/"
    files = [roster_csv(version, numbers) for version, (numbers, _) in enumerate(ROSTER_FILES)]

    def upload(index: int) -> int:
        response = requests.post(
            imports_url,
            files={"file": (f"roster-{index}.csv", files[index], "text/csv")},
            data={"replace": "true" if ROSTER_FILES[index][1] else "false"},
            headers=headers,
            timeout=120,
        )
        assert response.status_code == 202, response.text
        return int(response.json()["id"])

    import_ids = all_at_once(len(files), upload)
    assert list(
        RosterImport.objects.filter(pk__in=import_ids).values_list("status", flat=True)
    ) == [RosterImportStatus.PREVIEW] * len(files)

    def confirm(index: int) -> int:
        response = requests.post(
            f"{imports_url}{import_ids[index]}/confirm/",
            json={"valid_rows_only": False},
            headers=headers,
            timeout=120,
        )
        assert response.status_code == 202, response.text
        return index

    all_at_once(len(files), confirm)

    applied = list(RosterImport.objects.filter(pk__in=import_ids).order_by("applied_at", "pk"))
    assert [i.status for i in applied] == [RosterImportStatus.APPLIED] * len(files)
    for roster_import in applied:  # each import's history written once, as it counted it
        written = RosterChange.objects.filter(roster_import=roster_import).count()
        assert written == roster_import.to_add + roster_import.to_update + (
            roster_import.to_terminate
        )
    entries = RosterEntry.objects.filter(employer=acme)
    assert entries.count() == len(set(entries.values_list("external_id", flat=True))) == 110

    # The same files, one after another in the order the concurrent applies took, for
    # another employer: the roster and its history come out the same.
    order = [import_ids.index(roster_import.pk) for roster_import in applied]
    globex = EmployerFactory.create(name="Globex")
    for index in order:
        created = roster_import_create(
            employer=globex,
            uploaded_by=admin,
            file_name=f"roster-{index}.csv",
            content=files[index],
            replace=ROSTER_FILES[index][1],
        )
        roster_import_validate(import_id=created.pk)
        roster_import_confirm(
            roster_import=RosterImport.objects.get(pk=created.pk),
            actor=admin,
            valid_rows_only=False,
        )
        assert roster_import_apply(import_id=created.pk).status == RosterImportStatus.APPLIED

    assert roster_of(acme) == roster_of(globex)
    assert history_of(acme) == history_of(globex)
    print(  # noqa: T201
        f"\nroster imports: {len(files)} uploads and confirmations at once, applied in order "
        f"{order}; {entries.count()} entries, "
        f"{RosterChange.objects.filter(employer=acme).count()} history rows, 0 duplicates"
    )
