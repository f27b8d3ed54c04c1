"""Billing reads."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable

from django.db.models import Prefetch, Q

from billing.models import (
    BillingInstallation,
    CreditNote,
    CreditNoteStatus,
    Invoice,
    InvoiceQuerySet,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
)


@functools.cache
def installation_key_prefix() -> str:
    """The prefix of every Stripe idempotency key written by this database (see
    BillingInstallation). Read once per process."""
    installation, _ = BillingInstallation.objects.get_or_create(pk=1)
    return installation.installation_id.hex[:12]


# --- invoices for finance ----------------------------------------------------------------------


def invoices_filtered(
    *,
    status: str | None = None,
    search: str | None = None,
    created_from: dt.date | None = None,
    created_to: dt.date | None = None,
) -> InvoiceQuerySet:
    """Invoices newest first, with their customer (one query however many). `search` matches
    part of the customer's email or of the invoice number; the dates are the days of
    `created_at` in the business time zone, both included."""
    invoices = Invoice.objects.select_related("customer").order_by("-created_at", "-id")
    if status:
        invoices = invoices.filter(status=status)
    if search:
        invoices = invoices.filter(
            Q(customer__email__icontains=search) | Q(number__icontains=search)
        )
    if created_from is not None:
        invoices = invoices.filter(created_at__date__gte=created_from)
    if created_to is not None:
        invoices = invoices.filter(created_at__date__lte=created_to)
    return invoices


def invoices_with_details() -> InvoiceQuerySet:
    """Invoices with their customer, lines, payments with their refunds, and credit notes, in
    a fixed number of queries."""
    return Invoice.objects.select_related("customer").prefetch_related(
        Prefetch("lines", to_attr="line_list"),
        Prefetch(
            "payments",
            queryset=Payment.objects.order_by("id").prefetch_related(
                Prefetch("refunds", queryset=Refund.objects.order_by("id"), to_attr="refund_list")
            ),
            to_attr="payment_list",
        ),
        Prefetch(
            "credit_notes", queryset=CreditNote.objects.order_by("id"), to_attr="credit_note_list"
        ),
    )


def payment_refundable_cents(*, payment: Payment, refunds: Iterable[Refund]) -> int:
    """What can still be refunded of a payment: a succeeded card payment's amount less its
    refunds that did not fail (the rule `refund_create` enforces)."""
    if payment.status != PaymentStatus.SUCCEEDED or not payment.stripe_payment_intent_id:
        return 0
    refunded = sum(r.amount_cents for r in refunds if r.status != RefundStatus.FAILED)
    return max(0, payment.amount_cents - refunded)


def invoice_creditable_cents(*, invoice: Invoice, credit_notes: Iterable[CreditNote]) -> int:
    """What credit notes may still take off `invoice`: an open invoice's amount left to pay,
    less its credit notes that did not fail (pending ones are not in Stripe's figures yet; a
    larger figure from Stripe wins). Only open invoices take credit notes here; a paid one is
    refunded instead."""
    if invoice.status != InvoiceStatus.OPEN:
        return 0
    noted = sum(n.amount_cents for n in credit_notes if n.status != CreditNoteStatus.FAILED)
    credited = max(noted, invoice.amount_credited_cents)
    return max(0, invoice.total_cents - invoice.amount_paid_cents - credited)
