"""Billing reads."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet

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
    StripeCommand,
    StripeCommandStatus,
    StripeEvent,
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


# --- stuck work (billing/stuck_work.py) --------------------------------------------------------


def stripe_commands_stuck(*, now: dt.datetime) -> QuerySet[StripeCommand]:
    """Outbox commands that need a person or a pusher: failed (refused by Stripe, or out of
    attempts), claimed by a worker whose lease ran out more than STUCK_STRIPE_COMMAND_SECONDS
    ago, or due for longer than that without a pusher taking them."""
    late = now - dt.timedelta(seconds=settings.STUCK_STRIPE_COMMAND_SECONDS)
    return StripeCommand.objects.filter(
        Q(status=StripeCommandStatus.FAILED)
        | Q(status=StripeCommandStatus.IN_PROGRESS, lease_expires_at__lt=late)
        | Q(status=StripeCommandStatus.PENDING, next_attempt_at__lt=late)
    ).order_by("id")


def stripe_events_stuck(*, now: dt.datetime) -> QuerySet[StripeEvent]:
    """Webhook events received more than STUCK_WEBHOOK_EVENT_SECONDS ago and not applied."""
    late = now - dt.timedelta(seconds=settings.STUCK_WEBHOOK_EVENT_SECONDS)
    return StripeEvent.objects.filter(processed_at__isnull=True, received_at__lt=late).order_by(
        "id"
    )


def refunds_stuck(*, now: dt.datetime) -> QuerySet[Refund]:
    """Refunds still pending (not confirmed by Stripe) STUCK_REFUND_SECONDS after they were
    asked for."""
    late = now - dt.timedelta(seconds=settings.STUCK_REFUND_SECONDS)
    return Refund.objects.filter(status=RefundStatus.PENDING, created_at__lt=late).order_by("id")


def credit_notes_stuck(*, now: dt.datetime) -> QuerySet[CreditNote]:
    """Credit notes still pending STUCK_REFUND_SECONDS after they were issued."""
    late = now - dt.timedelta(seconds=settings.STUCK_REFUND_SECONDS)
    return CreditNote.objects.filter(status=CreditNoteStatus.PENDING, created_at__lt=late).order_by(
        "id"
    )
