"""The Stripe rail end to end: local invoice → outbox → real SDK over HTTP → the emulator →
signed webhooks back to the running app. No mocks: PostgreSQL, Redis, the emulator process."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from billing.models import (
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    StripeCommand,
    StripeCommandStatus,
    StripeEvent,
)
from billing.stripe_gateway import StripeGateway, stripe_gateway
from billing.stripe_outbox import stripe_outbox_push
from tests.billing.factories import member_customer, member_invoice

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(condition: Any, *, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def stripe_invoices_for(gateway: StripeGateway, invoice: Invoice) -> list[Any]:
    return [
        s for s in gateway.invoices_list() if s.metadata.get("local_invoice_id") == str(invoice.pk)
    ]


def test_member_invoice_is_paid_and_webhooks_apply_once(live_server, stripe_emulator, settings):
    """customer → payment method → invoice with two items → finalize → pay → webhooks, each
    delivered three times and shuffled, verified and applied once."""
    stripe_emulator.configure(
        webhook_url=f"{live_server.url}/webhooks/stripe/",
        webhook_secret=settings.STRIPE_WEBHOOK_SECRET,
        webhook_duplicates=3,
        webhook_shuffle=True,
        webhook_batch_ms=300,
    )
    customer = member_customer(payment_method_id="pm_card_visa")
    invoice = member_invoice(customer, 900, 1500)

    report = stripe_outbox_push(run_seconds=30)

    assert report.failed == 0, report.errors
    assert StripeCommand.objects.exclude(status=StripeCommandStatus.DONE).count() == 0
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.amount_paid_cents == 2400
    assert invoice.number
    assert invoice.lines.filter(stripe_invoice_item_id__isnull=True).count() == 0
    [in_stripe] = stripe_invoices_for(stripe_gateway(), invoice)
    assert (in_stripe.status, in_stripe.total, in_stripe.amount_paid) == ("paid", 2400, 2400)

    wait_for(
        lambda: (
            all(row["delivered"] for row in stripe_emulator.webhooks())
            and StripeEvent.objects.filter(type="invoice.paid", processed_at__isnull=False).exists()
        ),
        what="every webhook delivered and invoice.paid applied",
    )
    paid_deliveries = [row for row in stripe_emulator.webhooks() if row["type"] == "invoice.paid"]
    assert sum(row["deliveries"] for row in paid_deliveries) == 3
    stored = Counter(StripeEvent.objects.values_list("type", flat=True))
    assert stored["invoice.paid"] == 1  # one row per event id, however often delivered
    assert stored["invoice.finalized"] == 1
    assert StripeEvent.objects.filter(processed_at__isnull=True).count() == 0
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    payments = Payment.objects.filter(invoice=invoice)
    assert [(p.status, p.amount_cents) for p in payments] == [(PaymentStatus.SUCCEEDED, 2400)]
    assert payments[0].stripe_payment_intent_id


def test_paid_before_finalized_and_three_times_over_still_pays_once(
    live_server, stripe_emulator, settings
):
    """The emulator delivers invoice.paid three times, before invoice.finalized, to an app
    that had lost every answer of the push (as if its worker died after each Stripe call):
    the webhooks alone bring the invoice to paid, with one payment."""
    customer = member_customer(payment_method_id="pm_card_visa")
    invoice = member_invoice(customer, 900, 1500)
    stripe_outbox_push(run_seconds=30)
    stripe_id = Invoice.objects.get(pk=invoice.pk).stripe_invoice_id
    Payment.objects.filter(invoice=invoice).delete()
    Invoice.objects.filter(pk=invoice.pk).update(
        stripe_invoice_id=None, status=InvoiceStatus.DRAFT, number="", amount_paid_cents=0
    )
    events = {
        e["type"]: e["id"]
        for e in stripe_gateway().events_list()
        if e["data"]["object"].get("id") == stripe_id
    }
    stripe_emulator.configure(
        webhook_url=f"{live_server.url}/webhooks/stripe/",
        webhook_secret=settings.STRIPE_WEBHOOK_SECRET,
    )

    order = ["invoice.paid"] * 3 + ["invoice.finalized", "invoice.paid", "invoice.created"]
    results = stripe_emulator.resend([events[kind] for kind in order])

    assert [r["status"] for r in results] == [200] * len(order)
    invoice.refresh_from_db()
    assert invoice.stripe_invoice_id == stripe_id
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.amount_paid_cents == 2400
    assert Payment.objects.filter(invoice=invoice, status=PaymentStatus.SUCCEEDED).count() == 1
    stored = Counter(StripeEvent.objects.values_list("type", flat=True))
    assert stored == {"invoice.paid": 1, "invoice.finalized": 1, "invoice.created": 1}
    assert not StripeEvent.objects.filter(processed_at__isnull=True).exists()


def test_a_declined_card_is_a_failed_payment_with_the_decline_code(stripe_emulator):
    customer = member_customer(payment_method_id="pm_card_chargeDeclinedInsufficientFunds")
    invoice = member_invoice(customer, 9900)

    report = stripe_outbox_push(run_seconds=30)

    assert report.failed == 0, report.errors
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN
    payment = Payment.objects.get(invoice=invoice)
    assert payment.status == PaymentStatus.FAILED
    assert payment.failure_code == "card_declined"
    assert payment.decline_code == "insufficient_funds"
    assert not Payment.objects.filter(status=PaymentStatus.SUCCEEDED).exists()
    [in_stripe] = stripe_invoices_for(stripe_gateway(), invoice)
    assert in_stripe.status == "open"
    assert in_stripe.amount_paid == 0


def test_an_employer_invoice_is_sent_with_net_terms(stripe_emulator):
    from billing.models import CollectionMethod
    from billing.services import InvoiceLineInput, invoice_create
    from tests.billing.factories import JANUARY, employer_customer

    customer = employer_customer()
    invoice = invoice_create(
        customer=customer,
        lines=[InvoiceLineInput("January PEPM, 40 members", 40 * 1500, *JANUARY)],
        collection_method=CollectionMethod.SEND_INVOICE,
        days_until_due=30,
    )

    report = stripe_outbox_push(run_seconds=30)

    assert report.failed == 0, report.errors
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN  # sent, awaiting payment on net terms
    assert invoice.hosted_invoice_url
    assert not Payment.objects.filter(invoice=invoice).exists()
    sent = [e for e in stripe_gateway().events_list() if e["type"] == "invoice.sent"]
    assert len(sent) == 1


def test_void_and_mark_uncollectible_reach_stripe_and_come_back(stripe_emulator):
    from billing.services import invoice_mark_uncollectible, invoice_void

    declined = member_customer(payment_method_id="pm_card_chargeDeclined")
    first, second = member_invoice(declined, 900), member_invoice(declined, 1900)
    stripe_outbox_push(run_seconds=30)

    invoice_void(invoice=first)
    invoice_mark_uncollectible(invoice=second)
    report = stripe_outbox_push(run_seconds=30)

    assert report.failed == 0, report.errors
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE)


class CrashAfterCreate(StripeGateway):
    """Our own gateway, dying right after Stripe created the invoice and before the id was
    stored locally: the moment a worker killed mid-push would leave behind."""

    def invoice_create(self, **kwargs: Any) -> Any:
        super().invoice_create(**kwargs)
        raise KeyboardInterrupt("worker killed")


def test_a_push_killed_mid_flight_resumes_without_a_second_invoice(stripe_emulator, settings):
    customer = member_customer()
    invoice = member_invoice(customer, 900)
    crashing = CrashAfterCreate(
        api_key=settings.STRIPE_API_KEY,
        api_base=settings.STRIPE_API_BASE,
        timeout_seconds=10,
        throttle=None,
    )

    with pytest.raises(KeyboardInterrupt):
        stripe_outbox_push(run_seconds=30, gateway=crashing)
    invoice.refresh_from_db()
    assert invoice.stripe_invoice_id is None  # the crash lost Stripe's answer
    assert StripeCommand.objects.filter(status=StripeCommandStatus.IN_PROGRESS).count() == 1

    # Its lease runs out; another worker takes the command over.
    StripeCommand.objects.update(lease_expires_at="2000-01-01T00:00:00Z")
    report = stripe_outbox_push(run_seconds=30)

    assert report.failed == 0, report.errors
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert len(stripe_invoices_for(stripe_gateway(), invoice)) == 1
    assert Payment.objects.filter(invoice=invoice).count() == 1
