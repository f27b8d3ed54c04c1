from __future__ import annotations

from collections import Counter

import pytest
from django.core.management import call_command

from billing.models import Invoice, InvoiceStatus, Payment
from billing.reconciliation import ReconciliationReport, stripe_reconcile
from billing.stripe_gateway import stripe_gateway
from billing.stripe_outbox import stripe_outbox_push
from tests.billing.factories import member_customer, member_invoice

pytestmark = pytest.mark.django_db(transaction=True)


def kinds(report: ReconciliationReport) -> dict[str, int]:
    return dict(Counter(drift.kind for drift in report.drifts))


def test_reconciliation_finds_and_repairs_missed_changes(stripe_emulator):
    declined = member_customer(payment_method_id="pm_card_chargeDeclined")
    to_void, to_write_off, untouched = (
        member_invoice(declined, amount) for amount in (900, 1900, 2900)
    )
    stripe_outbox_push(run_seconds=30)
    gateway = stripe_gateway()
    # Changes made in Stripe whose webhooks never reached us (no webhook endpoint configured).
    gateway.invoice_void(
        invoice_id=str(Invoice.objects.get(pk=to_void.pk).stripe_invoice_id),
        idempotency_key="dash-void",
    )
    gateway.invoice_mark_uncollectible(
        invoice_id=str(Invoice.objects.get(pk=to_write_off.pk).stripe_invoice_id),
        idempotency_key="dash-uncollectible",
    )

    report = stripe_reconcile(repair=True)

    assert kinds(report) == {"status_behind": 2}
    assert all(d.repaired for d in report.drifts)
    assert Invoice.objects.get(pk=to_void.pk).status == InvoiceStatus.VOID
    assert Invoice.objects.get(pk=to_write_off.pk).status == InvoiceStatus.UNCOLLECTIBLE
    assert Invoice.objects.get(pk=untouched.pk).status == InvoiceStatus.OPEN
    assert kinds(stripe_reconcile(repair=True)) == {}  # nothing left to find


def test_reconciliation_links_an_invoice_whose_id_was_lost(stripe_emulator):
    customer = member_customer()
    invoice = member_invoice(customer, 900)
    stripe_outbox_push(run_seconds=30)
    stripe_id = Invoice.objects.get(pk=invoice.pk).stripe_invoice_id
    # As if the worker died after Stripe created the invoice, before the id was stored.
    Invoice.objects.filter(pk=invoice.pk).update(stripe_invoice_id=None, status=InvoiceStatus.DRAFT)
    Payment.objects.filter(invoice=invoice).delete()

    report = stripe_reconcile(repair=True)

    assert kinds(report) == {"unlinked": 1}
    invoice.refresh_from_db()
    assert invoice.stripe_invoice_id == stripe_id
    assert invoice.status == InvoiceStatus.PAID
    assert Payment.objects.filter(invoice=invoice).count() == 1


def test_reconciliation_reports_but_does_not_touch_what_is_not_safe(stripe_emulator, capsys):
    declined = member_customer(payment_method_id="pm_card_chargeDeclined")
    invoice = member_invoice(declined, 900)
    stripe_outbox_push(run_seconds=30)
    Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.PAID, total_cents=1000)

    call_command("stripe_reconcile", "--no-repair")

    out = capsys.readouterr().out
    assert '"status_ahead": 1' in out
    assert '"amount_mismatch": 1' in out
    invoice.refresh_from_db()
    assert (invoice.status, invoice.total_cents) == (InvoiceStatus.PAID, 1000)


def test_reconciliation_restores_a_missing_payment_row(stripe_emulator):
    invoice = member_invoice(member_customer(), 900)
    stripe_outbox_push(run_seconds=30)
    Payment.objects.filter(invoice=invoice).delete()

    report = stripe_reconcile(repair=True)

    assert kinds(report) == {"payment_missing": 1}
    assert Payment.objects.filter(invoice=invoice).count() == 1
