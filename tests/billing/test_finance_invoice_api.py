"""The finance invoice API: the list and detail, refunds of paid invoices and credit notes on
open ones through the Stripe rail (the emulator over HTTP, real SDK, webhooks) into the ledger,
Idempotency-Key on both POSTs, refusals in the one error format, who may call it, and a fixed
number of queries."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from accounts.models import Role, User
from accounts.selectors import Access
from accounts.services import role_grant
from billing.models import (
    BillingCustomer,
    CollectionMethod,
    CreditNote,
    CreditNoteStatus,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    StripeCommand,
    StripeEvent,
)
from billing.services import (
    InvoiceLineInput,
    credit_note_create,
    credit_note_record_stripe_result,
    invoice_create,
)
from billing.stripe_gateway import stripe_gateway
from billing.stripe_outbox import stripe_outbox_push
from config.errors import ConflictError
from ledger import chart
from ledger.models import JournalEntry, Posting
from ledger.services import ledger_invoice_voided, ledger_invoice_written_off
from tests.api_assertions import assert_error
from tests.billing.factories import JANUARY, employer_customer, member_customer, member_invoice
from tests.factories import EmployerFactory, PartnerFactory, user_with_role
from tests.ledger.ledger_checks import trial_balance_cents, unbalanced_entries

URL = "/api/v1/invoices/"


def wait_for(condition: Callable[[], bool], *, timeout: float = 20.0, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def balance(code: str) -> int:
    total = Posting.objects.filter(account__code=code).aggregate(t=Sum("amount_cents"))["t"]
    return int(total or 0)


def entry_postings(key: str) -> list[tuple[str, int, int | None]]:
    entry = JournalEntry.objects.get(idempotency_key=key)
    return sorted(
        entry.postings.values_list("account__code", "amount_cents", "invoice_line_id"),
        key=lambda p: (p[0], p[2] or 0),
    )


@pytest.fixture
def finance_user() -> User:
    return user_with_role(Role.FINANCE_STAFF)


@pytest.fixture
def finance(client_for, finance_user):
    return client_for(finance_user)


def with_webhooks(emulator: Any, live_server: Any, settings: Any) -> None:
    emulator.configure(
        webhook_url=f"{live_server.url}/webhooks/stripe/",
        webhook_secret=settings.STRIPE_WEBHOOK_SECRET,
    )


def all_webhooks_applied(emulator: Any) -> bool:
    return all(row["delivered"] for row in emulator.webhooks()) and not (
        StripeEvent.objects.filter(processed_at__isnull=True).exists()
    )


# --- refunds through the Stripe rail -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_finance_refunds_part_of_a_paid_invoice_once(
    finance, finance_user, stripe_emulator, live_server, settings
):
    with_webhooks(stripe_emulator, live_server, settings)
    invoice = member_invoice(member_customer(), 900, 1500)
    stripe_outbox_push(run_seconds=30)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    body = {"amount_cents": 1000, "reason": "goodwill after a missed visit"}

    first = finance.post(f"{URL}{invoice.pk}/refunds/", body, HTTP_IDEMPOTENCY_KEY="refund-1")
    again = finance.post(f"{URL}{invoice.pk}/refunds/", body, HTTP_IDEMPOTENCY_KEY="refund-1")

    assert first.status_code == 201, first.content
    created = first.json()
    assert (created["amount_cents"], created["status"]) == (1000, "pending")
    assert created["created_by_id"] == finance_user.pk
    assert created["payment_id"] == Payment.objects.get(status=PaymentStatus.SUCCEEDED).pk
    assert again.status_code == 201
    assert again.json() == created
    assert again["Idempotent-Replayed"] == "true"
    assert Refund.objects.count() == 1

    stripe_outbox_push(run_seconds=30)
    stripe_outbox_push(run_seconds=5)  # nothing left to send

    refund = Refund.objects.get()
    assert refund.status == RefundStatus.SUCCEEDED
    assert refund.created_by == finance_user
    in_stripe = stripe_emulator.objects("refunds")["data"]
    assert [(r["id"], r["amount"]) for r in in_stripe] == [(refund.stripe_refund_id, 1000)]
    # Dr refunds and credits split over the lines by amount (9/24 and 15/24), Cr Stripe cash.
    line_a, line_b = InvoiceLine.objects.filter(invoice=invoice).order_by("id")
    assert entry_postings(f"refund:{refund.pk}") == [
        (chart.CASH_STRIPE, -375, line_a.pk),
        (chart.CASH_STRIPE, -625, line_b.pk),
        (chart.REFUNDS_CREDITS, 375, line_a.pk),
        (chart.REFUNDS_CREDITS, 625, line_b.pk),
    ]
    assert JournalEntry.objects.filter(kind="refund").count() == 1
    stripe_fee = Payment.objects.get(status=PaymentStatus.SUCCEEDED).stripe_fee_cents
    assert stripe_fee == (2400 * 29 + 500) // 1000 + 30  # the emulator's 2.9% + 30c
    assert balance(chart.CASH_STRIPE) == 2400 - stripe_fee - 1000
    assert trial_balance_cents() == 0
    assert unbalanced_entries() == []

    detail = finance.get(f"{URL}{invoice.pk}/").json()
    assert detail["refundable_cents"] == 1400
    assert detail["creditable_cents"] == 0
    [payment] = detail["payments"]
    assert [(r["amount_cents"], r["status"]) for r in payment["refunds"]] == [(1000, "succeeded")]

    # The webhooks (each event applied once) and a retry of the request change nothing.
    wait_for(lambda: all_webhooks_applied(stripe_emulator), what="webhooks applied")
    late = finance.post(f"{URL}{invoice.pk}/refunds/", body, HTTP_IDEMPOTENCY_KEY="refund-1")
    assert late.json() == created
    stripe_outbox_push(run_seconds=5)
    assert Refund.objects.count() == 1
    assert stripe_emulator.objects("refunds")["count"] == 1
    assert JournalEntry.objects.filter(kind="refund").count() == 1

    reused = finance.post(
        f"{URL}{invoice.pk}/refunds/",
        {**body, "amount_cents": 10},
        HTTP_IDEMPOTENCY_KEY="refund-1",
    )
    assert_error(reused, 422, "idempotency_key_reused")


def paid_invoice(*amounts: int, intent: str = "pi_test") -> tuple[Invoice, Payment]:
    """A paid member invoice as the rail leaves it, without Stripe."""
    invoice = member_invoice(member_customer(), *amounts)
    Invoice.objects.filter(pk=invoice.pk).update(
        status=InvoiceStatus.PAID,
        stripe_invoice_id=f"in_{intent}",
        amount_paid_cents=invoice.total_cents,
        paid_at=timezone.now(),
    )
    payment = Payment.objects.create(
        invoice=invoice,
        status=PaymentStatus.SUCCEEDED,
        amount_cents=invoice.total_cents,
        currency="usd",
        stripe_payment_intent_id=intent,
    )
    invoice.refresh_from_db()
    return invoice, payment


@pytest.mark.django_db
def test_an_over_refund_is_a_409_and_writes_nothing(finance):
    invoice, payment = paid_invoice(900, 1500)
    Refund.objects.create(payment=payment, amount_cents=400, reason="earlier")
    commands = StripeCommand.objects.count()

    response = finance.post(f"{URL}{invoice.pk}/refunds/", {"amount_cents": 2001, "reason": "x"})

    error = assert_error(response, 409, "conflict")
    assert error["details"] == {"refundable_cents": 2000}
    assert Refund.objects.count() == 1
    assert StripeCommand.objects.count() == commands


@pytest.mark.django_db
def test_only_a_paid_invoice_is_refunded(finance):
    invoice = member_invoice(member_customer(), 900)  # a draft on its way to Stripe
    Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.OPEN)
    Payment.objects.create(
        invoice=invoice, status=PaymentStatus.FAILED, amount_cents=900, currency="usd"
    )

    response = finance.post(f"{URL}{invoice.pk}/refunds/", {"amount_cents": 100, "reason": "x"})

    error = assert_error(response, 409, "conflict")
    assert error["details"] == {"invoice_status": "open"}
    assert not Refund.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount_cents": 0, "reason": "x"}, "amount_cents"),
        ({"amount_cents": -5, "reason": "x"}, "amount_cents"),
        ({"amount_cents": "ten", "reason": "x"}, "amount_cents"),
        ({"amount_cents": 12.5, "reason": "x"}, "amount_cents"),
        ({"reason": "x"}, "amount_cents"),
        ({"amount_cents": 100}, "reason"),
        ({"amount_cents": 100, "reason": ""}, "reason"),
        ({"amount_cents": 100, "reason": "x" * 201}, "reason"),
        ({"amount_cents": 100, "reason": "x", "payment_id": 0}, "payment_id"),
    ],
)
def test_bad_refund_input_is_a_400(finance, body, field):
    invoice, _ = paid_invoice(900)

    error = assert_error(
        finance.post(f"{URL}{invoice.pk}/refunds/", body, format="json"), 400, "invalid"
    )

    assert field in error["details"]
    assert not Refund.objects.exists()


@pytest.mark.django_db
def test_a_refund_of_another_invoices_payment_is_refused(finance):
    invoice, _ = paid_invoice(900, intent="pi_a")
    _, other_payment = paid_invoice(900, intent="pi_b")

    response = finance.post(
        f"{URL}{invoice.pk}/refunds/",
        {"amount_cents": 100, "reason": "x", "payment_id": other_payment.pk},
    )

    error = assert_error(response, 400, "domain_error")
    assert error["details"] == {"field": "payment_id"}
    assert not Refund.objects.exists()


@pytest.mark.django_db
def test_the_payment_to_refund_can_be_named(finance, finance_user):
    invoice, payment = paid_invoice(900)

    response = finance.post(
        f"{URL}{invoice.pk}/refunds/",
        {"amount_cents": 900, "reason": "all of it", "payment_id": payment.pk},
    )

    assert response.status_code == 201, response.content
    refund = Refund.objects.get()
    assert (refund.payment, refund.amount_cents, refund.created_by) == (payment, 900, finance_user)


# --- credit notes through the Stripe rail ------------------------------------------------------


def open_employer_invoice(*amounts: int) -> Invoice:
    start, end = JANUARY
    invoice = invoice_create(
        customer=employer_customer(),
        lines=[
            InvoiceLineInput(f"January PEPM part {n}", amount, start, end)
            for n, amount in enumerate(amounts, start=1)
        ],
        collection_method=CollectionMethod.SEND_INVOICE,
        days_until_due=30,
    )
    report = stripe_outbox_push(run_seconds=30)
    assert report.failed == 0, report.errors
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN
    return invoice


@pytest.mark.django_db(transaction=True)
def test_a_credit_note_lowers_an_open_invoice_in_stripe_locally_and_in_the_books(
    finance, finance_user, stripe_emulator, live_server, settings
):
    with_webhooks(stripe_emulator, live_server, settings)
    invoice = open_employer_invoice(2000, 6000)
    gateway = stripe_gateway()
    body = {"amount_cents": 1000, "reason": "two employees enrolled by mistake"}

    first = finance.post(f"{URL}{invoice.pk}/credit-notes/", body, HTTP_IDEMPOTENCY_KEY="cn-1")
    again = finance.post(f"{URL}{invoice.pk}/credit-notes/", body, HTTP_IDEMPOTENCY_KEY="cn-1")

    assert first.status_code == 201, first.content
    assert again.json() == first.json()
    assert (first.json()["status"], first.json()["created_by_id"]) == ("pending", finance_user.pk)
    stripe_outbox_push(run_seconds=30)

    note = CreditNote.objects.get()
    assert note.status == CreditNoteStatus.ISSUED
    assert note.number
    [in_stripe] = stripe_emulator.objects("credit_notes")["data"]
    assert (in_stripe["id"], in_stripe["amount"], in_stripe["type"], in_stripe["memo"]) == (
        note.stripe_credit_note_id,
        1000,
        "pre_payment",
        body["reason"],
    )
    stripe_invoice = gateway.invoice_retrieve(invoice_id=str(invoice.stripe_invoice_id))
    assert (stripe_invoice.status, stripe_invoice.amount_due) == ("open", 7000)
    detail = finance.get(f"{URL}{invoice.pk}/").json()
    assert detail["status"] == "open"
    assert (detail["amount_credited_cents"], detail["amount_due_cents"]) == (1000, 7000)
    assert detail["creditable_cents"] == 7000
    assert [(n["amount_cents"], n["status"]) for n in detail["credit_notes"]] == [(1000, "issued")]
    # Dr refunds and credits split over the lines by amount, Cr the employer receivable.
    line_a, line_b = InvoiceLine.objects.filter(invoice=invoice).order_by("id")
    assert entry_postings(f"credit_note:{note.pk}") == [
        (chart.RECEIVABLE_EMPLOYER, -250, line_a.pk),
        (chart.RECEIVABLE_EMPLOYER, -750, line_b.pk),
        (chart.REFUNDS_CREDITS, 250, line_a.pk),
        (chart.REFUNDS_CREDITS, 750, line_b.pk),
    ]
    assert balance(chart.RECEIVABLE_EMPLOYER) == 7000

    # More than is left is refused; the rest is credited and the invoice has nothing to pay.
    too_much = finance.post(f"{URL}{invoice.pk}/credit-notes/", {**body, "amount_cents": 7001})
    assert assert_error(too_much, 409, "conflict")["details"] == {"creditable_cents": 7000}
    rest = finance.post(f"{URL}{invoice.pk}/credit-notes/", {**body, "amount_cents": 7000})
    assert rest.status_code == 201, rest.content
    stripe_outbox_push(run_seconds=30)

    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_due_cents, invoice.amount_paid_cents) == ("paid", 0, 0)
    stripe_invoice = gateway.invoice_retrieve(invoice_id=str(invoice.stripe_invoice_id))
    assert (stripe_invoice.status, stripe_invoice.amount_due) == ("paid", 0)
    assert balance(chart.RECEIVABLE_EMPLOYER) == 0
    assert balance(chart.REFUNDS_CREDITS) == 8000
    assert balance(chart.CASH_STRIPE) == 0  # nothing was collected
    assert trial_balance_cents() == 0
    assert unbalanced_entries() == []

    # Every webhook (credit_note.created, invoice.updated, invoice.paid) changes nothing more.
    counts = (JournalEntry.objects.count(), Posting.objects.count(), CreditNote.objects.count())
    wait_for(lambda: all_webhooks_applied(stripe_emulator), what="webhooks applied")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_credited_cents) == ("paid", 8000)
    assert (JournalEntry.objects.count(), Posting.objects.count()) == counts[:2]
    assert CreditNote.objects.count() == counts[2] == 2
    assert stripe_emulator.objects("credit_notes")["count"] == 2


@pytest.mark.django_db
def test_a_paid_invoice_is_refunded_not_credited(finance):
    invoice, _ = paid_invoice(900)

    response = finance.post(
        f"{URL}{invoice.pk}/credit-notes/", {"amount_cents": 100, "reason": "x"}
    )

    error = assert_error(response, 409, "conflict")
    assert error["details"] == {"invoice_status": "paid", "use": "refunds"}
    assert "refund" in error["message"]
    assert not CreditNote.objects.exists()


@pytest.mark.django_db
def test_a_draft_invoice_is_not_credited(finance):
    invoice = member_invoice(member_customer(), 900)

    response = finance.post(
        f"{URL}{invoice.pk}/credit-notes/", {"amount_cents": 100, "reason": "x"}
    )

    assert_error(response, 409, "conflict")
    assert not CreditNote.objects.exists()
    assert not StripeCommand.objects.filter(kind="credit_note_create").exists()


@pytest.mark.django_db
def test_pending_credit_notes_count_against_what_is_left(finance):
    invoice = member_invoice(member_customer(), 900)
    Invoice.objects.filter(pk=invoice.pk).update(
        status=InvoiceStatus.OPEN, stripe_invoice_id="in_x"
    )
    CreditNote.objects.create(invoice=invoice, amount_cents=600, reason="pending")
    CreditNote.objects.create(
        invoice=invoice, amount_cents=900, reason="refused", status=CreditNoteStatus.FAILED
    )

    response = finance.post(
        f"{URL}{invoice.pk}/credit-notes/", {"amount_cents": 301, "reason": "x"}
    )

    assert assert_error(response, 409, "conflict")["details"] == {"creditable_cents": 300}
    assert finance.get(f"{URL}{invoice.pk}/").json()["creditable_cents"] == 300


def open_local_invoice(*amounts: int) -> Invoice:
    """An open member invoice as the rail leaves it (finalized in Stripe), without Stripe."""
    invoice = member_invoice(member_customer(), *amounts)
    Invoice.objects.filter(pk=invoice.pk).update(
        status=InvoiceStatus.OPEN, stripe_invoice_id=f"in_open_{invoice.pk}"
    )
    invoice.refresh_from_db()
    return invoice


@pytest.mark.django_db(transaction=True)
def test_concurrent_credit_notes_never_credit_more_than_is_due():
    invoice = open_local_invoice(900)
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def credit() -> None:
        try:
            barrier.wait()
            credit_note_create(invoice=invoice, amount_cents=400, reason="race", created_by=None)
            outcomes.append("created")
        except ConflictError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=credit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["created", "created", "refused", "refused"]
    assert CreditNote.objects.aggregate(t=Sum("amount_cents"))["t"] == 800


def issue_credit(invoice: Invoice, amount_cents: int) -> CreditNote:
    """A credit note as the pusher records it when Stripe issued it."""
    note = credit_note_create(
        invoice=invoice, amount_cents=amount_cents, reason="x", created_by=None
    )
    Invoice.objects.filter(pk=invoice.pk).update(amount_credited_cents=amount_cents)
    credit_note_record_stripe_result(
        credit_note=note, stripe_credit_note_id=f"cn_{note.pk}", number="N-CN-01", issued=True
    )
    invoice.refresh_from_db()
    return note


@pytest.mark.django_db
def test_a_credited_invoice_written_off_writes_off_only_what_is_left():
    invoice = open_local_invoice(900, 1500)
    issue_credit(invoice, 400)
    assert balance(chart.RECEIVABLE_MEMBER) == 2000

    Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.UNCOLLECTIBLE)
    invoice.refresh_from_db()
    ledger_invoice_written_off(invoice=invoice)

    assert balance(chart.BAD_DEBT) == 2000
    assert balance(chart.RECEIVABLE_MEMBER) == 0
    assert trial_balance_cents() == 0


@pytest.mark.django_db
def test_voiding_a_credited_invoice_reverses_its_credit_notes_too():
    invoice = open_local_invoice(900, 1500)
    note = issue_credit(invoice, 400)

    Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.VOID)
    ledger_invoice_voided(invoice=invoice)
    ledger_invoice_voided(invoice=invoice)  # a replay posts nothing more

    assert JournalEntry.objects.filter(idempotency_key=f"credit_note:{note.pk}:voided").count() == 1
    assert balance(chart.RECEIVABLE_MEMBER) == 0
    assert balance(chart.REFUNDS_CREDITS) == 0
    assert trial_balance_cents() == 0


@pytest.mark.django_db
def test_a_refused_credit_note_is_failed_and_its_amount_creditable_again(finance):
    invoice = open_local_invoice(900)
    note = credit_note_create(invoice=invoice, amount_cents=900, reason="x", created_by=None)

    credit_note_record_stripe_result(credit_note=note, issued=False)

    note.refresh_from_db()
    assert note.status == CreditNoteStatus.FAILED
    assert not JournalEntry.objects.filter(kind="credit_note").exists()
    assert finance.get(f"{URL}{invoice.pk}/").json()["creditable_cents"] == 900


# --- who may call it ---------------------------------------------------------------------------

ROUTES = [
    ("get", "{url}"),
    ("get", "{url}{id}/"),
    ("post", "{url}{id}/refunds/"),
    ("post", "{url}{id}/credit-notes/"),
]


def route(template: str, invoice: Invoice) -> str:
    return template.format(url=URL, id=invoice.pk)


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.MEMBER, Role.EMPLOYER_ADMIN, Role.PARTNER_VIEWER])
@pytest.mark.parametrize(("method", "template"), ROUTES)
def test_other_roles_are_refused_even_for_their_own_invoices(client_for, role, method, template):
    """As on the ledger: a role that may not use the finance API at all is refused (403),
    before any invoice is looked up, so nothing about invoices leaks."""
    customer = employer_customer() if role == Role.EMPLOYER_ADMIN else member_customer()
    invoice, _ = paid_invoice(900)
    Invoice.objects.filter(pk=invoice.pk).update(customer=customer)
    scope = {
        Role.MEMBER: {},
        Role.EMPLOYER_ADMIN: {"employer": customer.employer},
        Role.PARTNER_VIEWER: {"partner": PartnerFactory()},
    }[role]
    if role == Role.MEMBER:
        user = customer.user
        assert user is not None
        role_grant(user=user, role=Role.MEMBER)
    else:
        user = user_with_role(role, **scope)
    client = client_for(user)

    response = getattr(client, method)(route(template, invoice), {"amount_cents": 1, "reason": "x"})

    assert_error(response, 403, "permission_denied")
    assert not Refund.objects.exists()
    assert not CreditNote.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "template"), ROUTES)
def test_anonymous_callers_are_asked_to_authenticate(api_client, method, template):
    invoice, _ = paid_invoice(900)

    response = getattr(api_client, method)(route(template, invoice))

    assert_error(response, 401, "not_authenticated")


@pytest.mark.django_db
def test_operator_admins_may_refund(client_for):
    invoice, _ = paid_invoice(900)
    admin = client_for(user_with_role(Role.OPERATOR_ADMIN))

    assert admin.get(URL).status_code == 200
    response = admin.post(f"{URL}{invoice.pk}/refunds/", {"amount_cents": 100, "reason": "x"})
    assert response.status_code == 201, response.content


@pytest.mark.django_db
@pytest.mark.parametrize("suffix", ["", "refunds/", "credit-notes/"])
def test_a_missing_invoice_is_a_404(finance, suffix):
    method = finance.get if not suffix else finance.post
    assert_error(
        method(f"{URL}999999/{suffix}", {"amount_cents": 1, "reason": "x"}), 404, "not_found"
    )


@pytest.mark.django_db
def test_the_invoice_queryset_is_scoped_to_the_caller():
    """Behind the role check, the queryset shows staff every invoice, an employer admin their
    employer's and a member their own."""
    mine, _ = paid_invoice(900, intent="pi_mine")
    employer_invoice = member_invoice(employer_customer(), 500)
    other_employer = EmployerFactory()
    member_user = mine.customer.user
    assert member_user is not None

    def access(**kwargs: Any) -> Access:
        base: dict[str, Any] = {
            "user_id": 1_000_000,
            "roles": frozenset(),
            "employer_ids": frozenset(),
            "partner_ids": frozenset(),
        }
        return Access(**{**base, **kwargs})

    visible = Invoice.objects.visible_to
    assert set(visible(access(roles=frozenset({Role.FINANCE_STAFF})))) == {mine, employer_invoice}
    assert set(
        visible(access(employer_ids=frozenset({employer_invoice.customer.employer_id})))
    ) == {employer_invoice}
    assert not visible(access(employer_ids=frozenset({other_employer.pk}))).exists()
    assert set(visible(access(user_id=member_user.pk))) == {mine}
    assert not visible(access(user_id=None)).exists()


# --- the list and the detail -------------------------------------------------------------------


def noon(day: dt.date) -> dt.datetime:
    """Midday of `day` in the business time zone."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))


def local_invoice(customer: BillingCustomer, *, total: int, status: str, **fields: Any) -> Invoice:
    return Invoice.objects.create(
        customer=customer,
        collection_method=CollectionMethod.CHARGE_AUTOMATICALLY,
        total_cents=total,
        status=status,
        **fields,
    )


@pytest.mark.django_db
@pytest.mark.parametrize("invoices", [1, 10])
def test_the_list_takes_a_fixed_number_of_queries(finance, django_assert_num_queries, invoices):
    for n in range(invoices):
        local_invoice(member_customer(), total=100 * (n + 1), status=InvoiceStatus.OPEN)
    finance.get(URL)

    with django_assert_num_queries(4):  # token, access, count, invoices with their customers
        response = finance.get(URL, {"limit": 100})

    assert response.json()["count"] == invoices


@pytest.mark.django_db
def test_the_detail_takes_a_fixed_number_of_queries(finance, django_assert_num_queries):
    invoice, payment = paid_invoice(900, 1500)
    Refund.objects.create(payment=payment, amount_cents=100, reason="a")
    Refund.objects.create(payment=payment, amount_cents=200, reason="b", status="failed")
    finance.get(f"{URL}{invoice.pk}/")

    # token, access, invoice with customer, lines, payments, refunds, credit notes
    with django_assert_num_queries(7):
        response = finance.get(f"{URL}{invoice.pk}/")

    body = response.json()
    assert [line["amount_cents"] for line in body["lines"]] == [900, 1500]
    assert body["refundable_cents"] == 2300
    assert body["payments"][0]["refundable_cents"] == 2300
    assert body["customer"]["email"] == invoice.customer.email


@pytest.mark.django_db
def test_the_list_filters(finance):
    ada = member_customer()
    BillingCustomer.objects.filter(pk=ada.pk).update(email="ada@lovelace.test")
    other = member_customer()
    old = local_invoice(ada, total=100, status=InvoiceStatus.PAID, number="AAA-0001")
    Invoice.objects.filter(pk=old.pk).update(created_at=noon(dt.date(2027, 1, 15)))
    new = local_invoice(ada, total=200, status=InvoiceStatus.OPEN, number="AAA-0002")
    Invoice.objects.filter(pk=new.pk).update(created_at=noon(dt.date(2027, 3, 1)))
    theirs = local_invoice(other, total=300, status=InvoiceStatus.OPEN, number="BBB-0001")
    Invoice.objects.filter(pk=theirs.pk).update(created_at=noon(dt.date(2027, 2, 1)))

    def ids(**query: str) -> list[int]:
        response = finance.get(URL, query)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids() == [new.pk, theirs.pk, old.pk]
    assert ids(status="open") == [new.pk, theirs.pk]
    assert ids(search="LOVELACE") == [new.pk, old.pk]
    assert ids(search="bbb-") == [theirs.pk]
    assert ids(created_from="2027-02-01") == [new.pk, theirs.pk]
    assert ids(created_from="2027-01-15", created_to="2027-02-01") == [theirs.pk, old.pk]
    assert_error(finance.get(URL, {"status": "lost"}), 400, "invalid")
    assert_error(finance.get(URL, {"created_from": "2027-02-30"}), 400, "invalid")
    error = assert_error(
        finance.get(URL, {"created_from": "2027-03-01", "created_to": "2027-02-01"}),
        400,
        "invalid",
    )
    assert "created_to" in error["details"]


@pytest.mark.django_db
def test_list_rows_show_the_amounts(finance):
    customer = member_customer()
    local_invoice(
        customer, total=1000, status=InvoiceStatus.OPEN, amount_credited_cents=300, number="N-1"
    )

    [row] = finance.get(URL).json()["results"]

    assert {k: row[k] for k in row if k.startswith("amount") or k == "total_cents"} == {
        "total_cents": 1000,
        "amount_credited_cents": 300,
        "amount_due_cents": 700,
        "amount_paid_cents": 0,
        "amount_remaining_cents": 700,
    }
    assert row["customer"] == {
        "id": customer.pk,
        "email": customer.email,
        "name": customer.name,
        "user_id": customer.user_id,
        "employer_id": None,
    }


@pytest.mark.django_db(transaction=True)
def test_a_credit_note_for_an_invoice_paid_meanwhile_is_not_sent(stripe_emulator):
    invoice = open_local_invoice(900)
    note = credit_note_create(invoice=invoice, amount_cents=300, reason="x", created_by=None)
    Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.PAID)

    stripe_outbox_push(run_seconds=10)  # (its invoice's own push fails: not in Stripe)

    command = StripeCommand.objects.get(kind="credit_note_create")
    assert (command.status, command.last_error) == (
        "failed",
        "DomainError: the invoice is paid now, no longer open",
    )
    note.refresh_from_db()
    assert note.status == CreditNoteStatus.FAILED
    assert stripe_emulator.objects("credit_notes")["count"] == 0
    assert not JournalEntry.objects.filter(kind="credit_note").exists()
