"""Billing writes: customers, invoices, payments, and applying what Stripe reports.

Nothing here calls Stripe. Each service commits local state together with an outbox row
(`StripeCommand`); the pusher (billing/stripe_outbox.py) sends it after the commit.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from billing.invoice_status import is_forward
from billing.models import (
    CLOSED_DISPUTE_STATUSES,
    BillingCustomer,
    CollectionMethod,
    CreditNote,
    CreditNoteStatus,
    Dispute,
    DisputeStatus,
    Invoice,
    InvoiceLine,
    InvoiceLineKind,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    StripeCommand,
    StripeCommandKind,
)
from billing.selectors import installation_key_prefix, invoice_creditable_cents
from billing.signals import (
    credit_note_issued,
    dispute_closed,
    dispute_opened,
    invoice_finalized,
    invoice_paid,
    invoice_payment_failed,
    invoice_voided,
    invoice_written_off,
    payment_fee_recorded,
    payment_succeeded,
    refund_succeeded,
)
from billing.stripe_gateway import PaymentOutcome, StripeDisputeSnapshot, StripeInvoiceSnapshot
from config.errors import ConflictError, DomainError
from employers.models import Employer

logger = logging.getLogger(__name__)


def _push_after_commit() -> None:
    """Wake the pusher once this transaction commits (beat also runs it every few seconds;
    this only shortens the wait). At most one wake-up is queued per second, so a bill run
    writing thousands of commands queues a handful of tasks, not thousands."""
    if not settings.STRIPE_OUTBOX_WAKE_ON_COMMIT:
        return

    def wake() -> None:
        from billing.tasks import stripe_outbox_push_task

        if cache.add("stripe-outbox:wake", 1, timeout=1):
            stripe_outbox_push_task.delay()

    # robust: a broker that is down must not turn a committed change into an error (beat pushes)
    transaction.on_commit(wake, robust=True)


# --- customers ---------------------------------------------------------------------------------


def _customer_sync_enqueue(*, customer: BillingCustomer) -> StripeCommand:
    """Queue a sync of `customer` to Stripe. The key counts this customer's syncs, so it is
    derived from local ids alone and differs for every sync."""
    sequence = StripeCommand.objects.filter(
        customer=customer, kind=StripeCommandKind.CUSTOMER_SYNC
    ).count()
    command = StripeCommand.objects.create(
        kind=StripeCommandKind.CUSTOMER_SYNC,
        customer=customer,
        idempotency_key=f"{installation_key_prefix()}:customer:{customer.pk}:sync:{sequence + 1}",
        payload={"payment_method_id": customer.payment_method_to_attach},
    )
    _push_after_commit()
    return command


@transaction.atomic
def billing_customer_create(
    *,
    email: str,
    name: str,
    user: User | None = None,
    employer: Employer | None = None,
    payment_method_id: str = "",
) -> BillingCustomer:
    if (user is None) == (employer is None):
        raise DomainError("A billing customer belongs to exactly one user or one employer.")
    customer = BillingCustomer.objects.create(
        user=user,
        employer=employer,
        email=email,
        name=name,
        payment_method_to_attach=payment_method_id,
    )
    _customer_sync_enqueue(customer=customer)
    return customer


@transaction.atomic
def billing_customer_contact_update(
    *, customer: BillingCustomer, email: str, name: str
) -> BillingCustomer:
    """Change who the customer's invoices go to (e.g. an employer's billing email); the change
    reaches Stripe through a queued sync."""
    customer = BillingCustomer.objects.select_for_update().get(pk=customer.pk)
    customer.email = email
    customer.name = name
    customer.save(update_fields=["email", "name"])
    _customer_sync_enqueue(customer=customer)
    return customer


@transaction.atomic
def billing_customer_payment_method_set(
    *, customer: BillingCustomer, payment_method_id: str
) -> BillingCustomer:
    """Make `payment_method_id` (a Stripe id from the client) the customer's default."""
    if not payment_method_id.startswith("pm_"):
        raise DomainError(
            "A payment method is a Stripe PaymentMethod id (pm_…).",
            details={"field": "payment_method_id"},
        )
    customer = BillingCustomer.objects.select_for_update().get(pk=customer.pk)
    customer.payment_method_to_attach = payment_method_id
    customer.save(update_fields=["payment_method_to_attach"])
    _customer_sync_enqueue(customer=customer)
    return customer


@transaction.atomic
def billing_customer_record_stripe_state(
    *,
    customer: BillingCustomer,
    stripe_customer_id: str | None = None,
    attached_payment_method_id: str | None = None,
    attached_from: str = "",
) -> None:
    """Store what Stripe confirmed for the customer (called by the pusher). `attached_from` is
    the id the client gave (e.g. pm_card_visa) that became `attached_payment_method_id`."""
    locked = BillingCustomer.objects.select_for_update().get(pk=customer.pk)
    if stripe_customer_id and not locked.stripe_customer_id:
        locked.stripe_customer_id = stripe_customer_id
    if attached_payment_method_id:
        locked.default_payment_method_id = attached_payment_method_id
        if locked.payment_method_to_attach == attached_from:
            locked.payment_method_to_attach = ""  # unless a newer one arrived meanwhile
    locked.save(
        update_fields=[
            "stripe_customer_id",
            "default_payment_method_id",
            "payment_method_to_attach",
        ]
    )
    customer.refresh_from_db()


# --- invoices ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceLineInput:
    description: str
    amount_cents: int
    period_start: dt.date
    period_end: dt.date
    kind: InvoiceLineKind = InvoiceLineKind.ADJUSTMENT
    membership_id: int | None = None


@transaction.atomic
def invoice_create(
    *,
    customer: BillingCustomer,
    lines: Sequence[InvoiceLineInput],
    collection_method: CollectionMethod = CollectionMethod.CHARGE_AUTOMATICALLY,
    days_until_due: int | None = None,
    description: str = "",
    currency: str = "usd",
) -> Invoice:
    """Create a local invoice with its lines and queue it for Stripe (draft → items →
    finalize → pay or send)."""
    if not lines:
        raise DomainError("An invoice needs at least one line.")
    for line in lines:
        if line.period_end < line.period_start:
            raise DomainError(f"Line {line.description!r} ends before it starts.")
    if collection_method == CollectionMethod.SEND_INVOICE and days_until_due is None:
        raise DomainError("An invoice sent for payment needs days_until_due (net terms).")
    total = sum(line.amount_cents for line in lines)
    if total < 0:
        raise DomainError("An invoice total cannot be negative; issue a credit note instead.")
    invoice = Invoice.objects.create(
        customer=customer,
        currency=currency,
        collection_method=collection_method,
        days_until_due=days_until_due,
        description=description,
        total_cents=total,
    )
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            invoice=invoice,
            description=line.description,
            amount_cents=line.amount_cents,
            period_start=line.period_start,
            period_end=line.period_end,
            kind=line.kind,
            membership_id=line.membership_id,
        )
        for line in lines
    )
    StripeCommand.objects.create(
        kind=StripeCommandKind.INVOICE_PUSH,
        customer=customer,
        invoice=invoice,
        idempotency_key=f"{installation_key_prefix()}:invoice:{invoice.pk}",
    )
    _push_after_commit()
    return invoice


def _invoice_close_enqueue(
    *, invoice: Invoice, kind: StripeCommandKind, action: str
) -> StripeCommand:
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if locked.status not in {InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE} or (
        kind == StripeCommandKind.INVOICE_MARK_UNCOLLECTIBLE and locked.status != InvoiceStatus.OPEN
    ):
        raise ConflictError(f"A {locked.status} invoice cannot be {action}.")
    command, _ = StripeCommand.objects.get_or_create(
        idempotency_key=f"{installation_key_prefix()}:invoice:{invoice.pk}:{kind}",
        defaults={"kind": kind, "invoice": invoice, "customer": invoice.customer},
    )
    _push_after_commit()
    return command


@transaction.atomic
def invoice_pay_retry(*, invoice: Invoice) -> StripeCommand:
    """Queue another charge of an open invoice with the customer's current default card (after
    a new card, or as a dunning retry). Attempt n uses key `…:pay:n`, so each attempt charges at
    most once however often it is retried."""
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if locked.status not in {InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE}:
        raise ConflictError(f"A {locked.status} invoice cannot be charged.")
    if locked.collection_method != CollectionMethod.CHARGE_AUTOMATICALLY:
        raise ConflictError("This invoice is paid by the customer on its own terms.")
    attempt = locked.payments.count() + 1
    command, _ = StripeCommand.objects.get_or_create(
        idempotency_key=f"{installation_key_prefix()}:invoice:{invoice.pk}:pay:{attempt}",
        defaults={
            "kind": StripeCommandKind.INVOICE_PAY,
            "invoice": locked,
            "customer": locked.customer,
            "payload": {"attempt": attempt},
        },
    )
    _push_after_commit()
    return command


@transaction.atomic
def invoice_void(*, invoice: Invoice) -> StripeCommand:
    return _invoice_close_enqueue(
        invoice=invoice, kind=StripeCommandKind.INVOICE_VOID, action="voided"
    )


@transaction.atomic
def invoice_mark_uncollectible(*, invoice: Invoice) -> StripeCommand:
    return _invoice_close_enqueue(
        invoice=invoice,
        kind=StripeCommandKind.INVOICE_MARK_UNCOLLECTIBLE,
        action="marked uncollectible",
    )


@transaction.atomic
def invoice_record_stripe_ids(
    *,
    invoice: Invoice,
    stripe_invoice_id: str | None = None,
    line_items: dict[int, str] | None = None,
) -> None:
    """Store the ids Stripe gave the invoice and its items (called by the pusher right after
    each step, so a crash resumes where it stopped)."""
    if stripe_invoice_id:
        Invoice.objects.filter(pk=invoice.pk, stripe_invoice_id__isnull=True).update(
            stripe_invoice_id=stripe_invoice_id
        )
        invoice.stripe_invoice_id = stripe_invoice_id
    for line_id, item_id in (line_items or {}).items():
        InvoiceLine.objects.filter(pk=line_id, stripe_invoice_item_id__isnull=True).update(
            stripe_invoice_item_id=item_id
        )


@transaction.atomic
def invoice_sync_from_stripe(*, snapshot: StripeInvoiceSnapshot) -> Invoice | None:
    """Apply Stripe's view of an invoice to the local one, whatever order the news comes in.

    The invoice is found by Stripe id, or by the `local_invoice_id` metadata we set at creation
    (an event can arrive before the pusher stored the id). The status only moves forward
    (billing/invoice_status.py); number, URL, amount paid and amount credited (pre-payment
    credit notes) only fill in or grow. A paid invoice gets its one succeeded payment, of what
    was paid (nothing, when credit notes took the whole amount due). Returns None for invoices
    this system did not make.
    """
    invoice = _invoice_for_snapshot(snapshot)
    if invoice is None:
        return None
    current = InvoiceStatus(invoice.status)
    reported = InvoiceStatus(snapshot.status)
    changed: set[str] = set()
    if invoice.stripe_invoice_id is None:
        invoice.stripe_invoice_id = snapshot.id
        changed.add("stripe_invoice_id")
    became_paid = False
    if is_forward(current, reported):
        invoice.status = reported
        changed.add("status")
        now = timezone.now()
        if reported == InvoiceStatus.PAID:
            invoice.paid_at = snapshot.paid_at or now
            changed.add("paid_at")
            became_paid = True
        if reported in {InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE}:
            invoice.closed_at = now
            changed.add("closed_at")
    if snapshot.finalized_at and invoice.finalized_at is None:
        invoice.finalized_at = snapshot.finalized_at
        changed.add("finalized_at")
    if snapshot.number and not invoice.number:
        invoice.number = snapshot.number
        changed.add("number")
    if snapshot.hosted_invoice_url and not invoice.hosted_invoice_url:
        invoice.hosted_invoice_url = snapshot.hosted_invoice_url
        changed.add("hosted_invoice_url")
    if snapshot.amount_paid > invoice.amount_paid_cents:
        invoice.amount_paid_cents = snapshot.amount_paid
        changed.add("amount_paid_cents")
    if snapshot.pre_payment_credit_notes_amount > invoice.amount_credited_cents:
        invoice.amount_credited_cents = snapshot.pre_payment_credit_notes_amount
        changed.add("amount_credited_cents")
    if changed:
        invoice.save(update_fields=sorted(changed))
    if "status" in changed or "finalized_at" in changed:
        _invoice_status_announce(invoice=invoice)
    if invoice.status == InvoiceStatus.PAID:
        _payment_success_ensure(
            invoice=invoice,
            amount_cents=snapshot.amount_paid or invoice.amount_due_cents,
            payment_intent_id=snapshot.payment_intent_ids[0] if snapshot.payment_intent_ids else "",
        )
    if became_paid:
        invoice_paid.send(sender=Invoice, invoice=invoice)
    return invoice


def _invoice_status_announce(*, invoice: Invoice) -> None:
    """Tell the ledger what the invoice's new state means (its receivers are idempotent)."""
    if invoice.status in {InvoiceStatus.OPEN, InvoiceStatus.PAID, InvoiceStatus.UNCOLLECTIBLE}:
        invoice_finalized.send(sender=Invoice, invoice=invoice)
    if invoice.status == InvoiceStatus.UNCOLLECTIBLE:
        invoice_written_off.send(sender=Invoice, invoice=invoice)
    if invoice.status == InvoiceStatus.VOID:
        invoice_voided.send(sender=Invoice, invoice=invoice)


def _invoice_for_snapshot(snapshot: StripeInvoiceSnapshot) -> Invoice | None:
    found = Invoice.objects.select_for_update().filter(stripe_invoice_id=snapshot.id).first()
    if found is not None:
        return found
    local_id = snapshot.metadata.get("local_invoice_id", "")
    if not local_id.isdigit():
        return None
    found = Invoice.objects.select_for_update().filter(pk=int(local_id)).first()
    if found is None or found.stripe_invoice_id not in {None, snapshot.id}:
        return None
    return found


# --- payments ----------------------------------------------------------------------------------


def _payment_success_ensure(
    *, invoice: Invoice, amount_cents: int, payment_intent_id: str
) -> Payment:
    """The invoice's one succeeded payment, created or completed (the caller holds the invoice
    row lock, so the pusher and a webhook cannot both create it)."""
    payment = Payment.objects.filter(invoice=invoice, status=PaymentStatus.SUCCEEDED).first()
    if payment is None:
        payment = Payment.objects.create(
            invoice=invoice,
            status=PaymentStatus.SUCCEEDED,
            amount_cents=amount_cents,
            currency=invoice.currency,
            stripe_payment_intent_id=payment_intent_id or None,
        )
        payment_succeeded.send(sender=Payment, payment=payment)
    elif payment_intent_id and not payment.stripe_payment_intent_id:
        payment.stripe_payment_intent_id = payment_intent_id
        payment.save(update_fields=["stripe_payment_intent_id"])
    # A payment learned from a webhook has no PaymentIntent yet (an event's invoice does not
    # carry its payments): the fee fetch looks it up first.
    if payment.stripe_fee_cents is None and (
        payment.stripe_payment_intent_id or payment.amount_cents > 0
    ):
        _payment_fee_fetch_enqueue(payment=payment)
    return payment


def _payment_fee_fetch_enqueue(*, payment: Payment) -> None:
    """Queue reading the payment's Stripe fee (its charge's balance transaction) after the
    commit: the pusher reads it outside any transaction and records it with
    `payment_record_fee`. One command per payment, whoever asks first."""
    _, created = StripeCommand.objects.get_or_create(
        idempotency_key=f"{installation_key_prefix()}:payment:{payment.pk}:fee",
        defaults={
            "kind": StripeCommandKind.PAYMENT_FEE_FETCH,
            "invoice": payment.invoice,
            "customer": payment.invoice.customer,
            "payload": {"payment_id": payment.pk},
        },
    )
    if created:
        _push_after_commit()


@transaction.atomic
def payment_record_fee(*, payment: Payment, charge_id: str, fee_cents: int) -> Payment:
    """Store the Stripe fee of a succeeded payment (and its charge id), once: the first answer
    wins, a repeated one changes nothing."""
    locked = Payment.objects.select_for_update().get(pk=payment.pk)
    if locked.status != PaymentStatus.SUCCEEDED:
        raise DomainError(f"Payment #{locked.pk} did not succeed; it has no fee.")
    if locked.stripe_fee_cents is not None:
        return locked
    locked.stripe_fee_cents = fee_cents
    changed = ["stripe_fee_cents"]
    if charge_id and not locked.stripe_charge_id:
        locked.stripe_charge_id = charge_id
        changed.append("stripe_charge_id")
    locked.save(update_fields=changed)
    payment_fee_recorded.send(sender=Payment, payment=locked)
    return locked


@transaction.atomic
def payment_record_outcome(*, invoice: Invoice, outcome: PaymentOutcome) -> Payment:
    """Record the result of charging `invoice`: success syncs the invoice (paid) and its one
    payment; a decline is a failed payment with Stripe's codes and leaves the invoice unpaid."""
    if outcome.succeeded:
        assert outcome.invoice is not None  # noqa: S101  (PaymentOutcome invariant)
        synced = invoice_sync_from_stripe(snapshot=outcome.invoice)
        if synced is None:
            raise DomainError(
                f"Stripe invoice {outcome.invoice.id} does not match invoice {invoice.pk}."
            )
        return Payment.objects.get(invoice=synced, status=PaymentStatus.SUCCEEDED)
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if outcome.charge_id:
        existing = Payment.objects.filter(stripe_charge_id=outcome.charge_id).first()
        if existing is not None:
            return existing  # the same declined charge, replayed
    failed = Payment.objects.create(
        invoice=locked,
        status=PaymentStatus.FAILED,
        amount_cents=locked.total_cents,
        currency=locked.currency,
        stripe_payment_intent_id=outcome.payment_intent_id or None,
        stripe_charge_id=outcome.charge_id,
        failure_code=outcome.failure_code,
        decline_code=outcome.decline_code,
        failure_message=outcome.failure_message[:500],
    )
    invoice_payment_failed.send(sender=Invoice, invoice=locked, payment=failed)
    return failed


# --- refunds -----------------------------------------------------------------------------------


@transaction.atomic
def refund_create(
    *, payment: Payment, amount_cents: int, reason: str, created_by: User | None = None
) -> Refund:
    """Refund `amount_cents` of a succeeded payment, queued for Stripe. Refunds of one payment
    never add up to more than it took. `created_by` is who asked (None: the system)."""
    locked = Payment.objects.select_for_update().get(pk=payment.pk)
    if locked.status != PaymentStatus.SUCCEEDED or not locked.stripe_payment_intent_id:
        raise ConflictError("Only a succeeded card payment can be refunded.")
    refunded = sum(
        locked.refunds.exclude(status=RefundStatus.FAILED).values_list("amount_cents", flat=True)
    )
    if not 0 < amount_cents <= locked.amount_cents - refunded:
        raise ConflictError(
            f"A refund must be between 1 and {locked.amount_cents - refunded} cents.",
            details={"refundable_cents": locked.amount_cents - refunded},
        )
    refund = Refund.objects.create(
        payment=locked, amount_cents=amount_cents, reason=reason, created_by=created_by
    )
    StripeCommand.objects.create(
        kind=StripeCommandKind.REFUND_CREATE,
        customer=locked.invoice.customer,
        invoice=locked.invoice,
        refund=refund,
        idempotency_key=f"{installation_key_prefix()}:refund:{refund.pk}",
    )
    _push_after_commit()
    return refund


def invoice_refund(
    *,
    invoice: Invoice,
    amount_cents: int,
    reason: str,
    created_by: User | None,
    payment_id: int | None = None,
) -> Refund:
    """Refund part or all of a paid invoice: of `payment_id` when given (it must be one of the
    invoice's payments), else of the invoice's one succeeded payment. `refund_create` checks
    the payment and the amount."""
    payments = Payment.objects.filter(invoice=invoice)
    if payment_id is not None:
        payment = payments.filter(pk=payment_id).first()
        if payment is None:
            raise DomainError(
                f"Payment {payment_id} is not a payment of invoice {invoice.pk}.",
                details={"field": "payment_id"},
            )
    else:
        payment = payments.filter(status=PaymentStatus.SUCCEEDED).first()
        if payment is None:
            raise ConflictError(
                f"Only a paid invoice can be refunded; invoice {invoice.pk} is {invoice.status}.",
                details={"invoice_status": invoice.status},
            )
    return refund_create(
        payment=payment, amount_cents=amount_cents, reason=reason, created_by=created_by
    )


@transaction.atomic
def refund_record_stripe_result(*, refund: Refund, stripe_refund_id: str, succeeded: bool) -> None:
    locked = Refund.objects.select_for_update().get(pk=refund.pk)
    newly_succeeded = succeeded and locked.status != RefundStatus.SUCCEEDED
    locked.stripe_refund_id = stripe_refund_id
    locked.status = RefundStatus.SUCCEEDED if succeeded else RefundStatus.FAILED
    locked.save(update_fields=["stripe_refund_id", "status"])
    if newly_succeeded:
        refund_succeeded.send(sender=Refund, refund=locked)


# --- disputes ----------------------------------------------------------------------------------


def _disputed_payment(snapshot: StripeDisputeSnapshot) -> Payment | None:
    """The succeeded payment a dispute concerns, locked: by charge id, else by PaymentIntent."""
    payments = Payment.objects.select_for_update().filter(status=PaymentStatus.SUCCEEDED)
    found = payments.filter(stripe_charge_id=snapshot.charge_id).first()
    if found is None and snapshot.payment_intent_id:
        found = payments.filter(stripe_payment_intent_id=snapshot.payment_intent_id).first()
    return found


def _dispute_rank(status: DisputeStatus) -> int:
    """How far along a dispute is: awaiting a response, under review, closed. A status only
    moves to a higher rank."""
    if status in CLOSED_DISPUTE_STATUSES:
        return 2
    if status in {DisputeStatus.UNDER_REVIEW, DisputeStatus.WARNING_UNDER_REVIEW}:
        return 1
    return 0


@transaction.atomic
def dispute_sync_from_stripe(*, snapshot: StripeDisputeSnapshot) -> Dispute | None:
    """Apply Stripe's view of a dispute, whatever order the `charge.dispute.*` events come in.

    The first news of a dispute records it (`dispute_opened`); the first news of it closed
    records that (`dispute_closed`), also when that is the first news at all. A closed dispute
    never changes again, so a replayed or late event changes nothing. Returns None for a charge
    this system did not make (the event stays stored)."""
    payment = _disputed_payment(snapshot)  # its row lock serializes the events of a dispute
    if payment is None:
        logger.warning(
            "Dispute %s concerns charge %s, which matches no payment here",
            snapshot.id,
            snapshot.charge_id,
        )
        return None
    try:
        reported = DisputeStatus(snapshot.status)
    except ValueError:
        raise DomainError(f"Unknown dispute status {snapshot.status!r}.") from None
    closing_now = timezone.now() if reported in CLOSED_DISPUTE_STATUSES else None
    dispute = Dispute.objects.select_for_update().filter(stripe_dispute_id=snapshot.id).first()
    if dispute is None:
        dispute = Dispute.objects.create(
            payment=payment,
            stripe_dispute_id=snapshot.id,
            stripe_charge_id=snapshot.charge_id,
            amount_cents=snapshot.amount,
            currency=snapshot.currency,
            status=reported,
            reason=snapshot.reason,
            opened_at=snapshot.created,
            closed_at=closing_now,
        )
        dispute_opened.send(sender=Dispute, dispute=dispute)
        if dispute.is_closed:
            dispute_closed.send(sender=Dispute, dispute=dispute)
        return dispute
    if _dispute_rank(reported) <= _dispute_rank(DisputeStatus(dispute.status)):
        return dispute  # old news (or a closed dispute: final)
    dispute.status = reported
    dispute.closed_at = closing_now
    dispute.save(update_fields=["status", "closed_at"])
    if dispute.is_closed:
        dispute_closed.send(sender=Dispute, dispute=dispute)
    return dispute


# --- credit notes ------------------------------------------------------------------------------


@transaction.atomic
def credit_note_create(
    *, invoice: Invoice, amount_cents: int, reason: str, created_by: User | None
) -> CreditNote:
    """Credit `amount_cents` on an open invoice (a Stripe pre-payment credit note, queued): it
    lowers what the invoice asks for. The credit notes of an invoice never add up to more than
    it has left to pay (checked under the invoice's row lock). A paid invoice is refunded
    instead (`invoice_refund`), so that money back always goes through one path."""
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if locked.status == InvoiceStatus.PAID:
        raise ConflictError(
            f"Invoice {locked.pk} is paid: give money back with a refund "
            f"(POST /api/v1/invoices/{locked.pk}/refunds/), not a credit note.",
            details={"invoice_status": locked.status, "use": "refunds"},
        )
    if locked.status != InvoiceStatus.OPEN or locked.stripe_invoice_id is None:
        raise ConflictError(
            f"Only an open invoice can be credited; invoice {locked.pk} is {locked.status}.",
            details={"invoice_status": locked.status},
        )
    creditable = invoice_creditable_cents(
        invoice=locked, credit_notes=list(CreditNote.objects.filter(invoice=locked))
    )
    if not 0 < amount_cents <= creditable:
        raise ConflictError(
            f"A credit must be between 1 and {creditable} cents.",
            details={"creditable_cents": creditable},
        )
    note = CreditNote.objects.create(
        invoice=locked, amount_cents=amount_cents, reason=reason, created_by=created_by
    )
    StripeCommand.objects.create(
        kind=StripeCommandKind.CREDIT_NOTE_CREATE,
        customer=locked.customer,
        invoice=locked,
        credit_note=note,
        idempotency_key=f"{installation_key_prefix()}:credit_note:{note.pk}",
    )
    _push_after_commit()
    return note


@transaction.atomic
def credit_note_record_stripe_result(
    *, credit_note: CreditNote, stripe_credit_note_id: str = "", number: str = "", issued: bool
) -> None:
    """Store Stripe's answer to a credit note (called by the pusher): issued, or refused."""
    locked = CreditNote.objects.select_for_update().get(pk=credit_note.pk)
    if locked.status == CreditNoteStatus.ISSUED and not issued:
        return  # issued is final
    newly_issued = issued and locked.status != CreditNoteStatus.ISSUED
    if stripe_credit_note_id:
        locked.stripe_credit_note_id = stripe_credit_note_id
    if number:
        locked.number = number
    locked.status = CreditNoteStatus.ISSUED if issued else CreditNoteStatus.FAILED
    locked.save(update_fields=["stripe_credit_note_id", "number", "status"])
    if newly_issued:
        credit_note_issued.send(sender=CreditNote, credit_note=locked)
