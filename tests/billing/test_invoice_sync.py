"""Stripe's news about an invoice can come late, twice and in any order; the local invoice ends
the same whatever the order."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.invoice_status import NEXT_STATUSES, is_forward, reachable_statuses
from billing.models import Invoice, InvoiceStatus, Payment, PaymentStatus
from billing.services import invoice_sync_from_stripe
from billing.stripe_gateway import StripeInvoiceSnapshot
from tests.billing.factories import member_customer, member_invoice
from tests.billing.stripe_payloads import invoice_object

pytestmark = pytest.mark.django_db


def snapshot(invoice: Invoice, status: str, **extra) -> StripeInvoiceSnapshot:
    paid = status == "paid"
    return StripeInvoiceSnapshot.from_dict(
        invoice_object(
            stripe_id=f"in_SYNC{invoice.pk}",
            local_invoice_id=invoice.pk,
            status=status,
            total=invoice.total_cents,
            amount_paid=invoice.total_cents if paid else 0,
            number="ABCD1234-0001" if status != "draft" else "",
            paid_at=1798765200 if paid else None,
            **extra,
        )
    )


def test_terminal_statuses_lead_nowhere_and_paths_only_go_forward():
    assert reachable_statuses(InvoiceStatus.PAID) == frozenset()
    assert reachable_statuses(InvoiceStatus.VOID) == frozenset()
    assert reachable_statuses(InvoiceStatus.DRAFT) == {
        InvoiceStatus.OPEN,
        InvoiceStatus.PAID,
        InvoiceStatus.VOID,
        InvoiceStatus.UNCOLLECTIBLE,
    }
    for status in NEXT_STATUSES:
        assert not is_forward(status, status)
        assert status not in reachable_statuses(status)  # no cycles


def test_sync_links_the_stripe_id_through_metadata_and_records_the_payment():
    invoice = member_invoice(member_customer(), 900)

    invoice_sync_from_stripe(snapshot=snapshot(invoice, "paid"))

    invoice.refresh_from_db()
    assert invoice.stripe_invoice_id == f"in_SYNC{invoice.pk}"
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.amount_paid_cents == 900
    assert invoice.number == "ABCD1234-0001"
    assert Payment.objects.get(invoice=invoice).status == PaymentStatus.SUCCEEDED


def test_stale_news_does_not_move_a_paid_invoice_back():
    invoice = member_invoice(member_customer(), 900)
    invoice_sync_from_stripe(snapshot=snapshot(invoice, "paid"))

    invoice_sync_from_stripe(snapshot=snapshot(invoice, "open"))
    invoice_sync_from_stripe(snapshot=snapshot(invoice, "draft"))

    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert Payment.objects.filter(invoice=invoice).count() == 1


def test_an_invoice_of_another_system_is_ignored():
    stranger = StripeInvoiceSnapshot.from_dict(
        invoice_object(stripe_id="in_OTHER", local_invoice_id=999999, status="paid")
    )
    assert invoice_sync_from_stripe(snapshot=stranger) is None


HISTORIES = [
    ["draft", "open", "paid"],
    ["draft", "open", "uncollectible", "paid"],
    ["draft", "open", "void"],
    ["draft", "open", "uncollectible", "void"],
]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), history=st.sampled_from(HISTORIES))
def test_any_order_and_any_repetition_ends_in_the_final_status(data, history):
    invoice = member_invoice(member_customer(), 1200)
    repeats = data.draw(st.lists(st.sampled_from(history), max_size=2 * len(history)))
    deliveries = data.draw(st.permutations(history + repeats))
    for status in deliveries:
        invoice_sync_from_stripe(snapshot=snapshot(invoice, status))

    invoice.refresh_from_db()
    assert invoice.status == history[-1]
    succeeded = Payment.objects.filter(invoice=invoice, status=PaymentStatus.SUCCEEDED).count()
    assert succeeded == (1 if history[-1] == "paid" else 0)
