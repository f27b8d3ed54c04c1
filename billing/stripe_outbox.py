"""The pusher: sends committed outbox rows (`StripeCommand`) to Stripe.

- Work is claimed in small batches with `SELECT … FOR UPDATE SKIP LOCKED` and leased, so any
  number of workers on any number of machines share it without coordination, and a crashed
  worker's commands are taken over when their lease expires.
- No Stripe call happens inside a database transaction: `stripe_outbox_push` refuses to run in
  one, and each step stores what Stripe answered in its own short transaction right after the
  call, so a crash resumes at the step that was running.
- Every request uses the command's stored idempotency key plus a step name, so a retried step
  gets Stripe's stored answer instead of acting twice.
- 429, 5xx and network errors put the command back with exponential backoff and jitter; Stripe
  refusing a request, or running out of attempts, marks it failed for a person to look at.
- The request rate is capped by the gateway's shared throttle.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from billing.models import (
    BillingCustomer,
    CollectionMethod,
    CreditNoteStatus,
    Invoice,
    InvoiceStatus,
    Payment,
    StripeCommand,
    StripeCommandKind,
    StripeCommandStatus,
)
from billing.selectors import installation_key_prefix
from billing.services import (
    billing_customer_record_stripe_state,
    credit_note_record_stripe_result,
    invoice_record_stripe_ids,
    invoice_sync_from_stripe,
    payment_record_fee,
    payment_record_outcome,
    refund_record_stripe_result,
)
from billing.stripe_gateway import (
    StripeGateway,
    StripeRequestError,
    StripeTransientError,
    stripe_gateway,
)
from config.errors import DomainError

logger = logging.getLogger(__name__)


class CommandNotReadyError(Exception):
    """The command depends on another one that has not reached Stripe yet; try again later."""


class LeaseLostError(Exception):
    """Another worker holds the command now (our lease ran out); stop touching it."""


@dataclass(frozen=True)
class Lease:
    """This worker's hold on one command. Renewed before the command runs and after each
    Stripe step of a long one; every write of the outcome is conditional on the token."""

    command_id: int
    token: uuid.UUID

    def _mine(self) -> QuerySet[StripeCommand]:
        return StripeCommand.objects.filter(
            pk=self.command_id, lease_token=self.token, status=StripeCommandStatus.IN_PROGRESS
        )

    def renew(self) -> None:
        expires = timezone.now() + timedelta(seconds=settings.STRIPE_OUTBOX_LEASE_SECONDS)
        if not self._mine().update(lease_expires_at=expires):
            raise LeaseLostError(f"command #{self.command_id} was taken over")

    def finish(self, **fields: Any) -> bool:
        """Write the outcome and release the command; False if it was no longer ours."""
        return bool(self._mine().update(lease_expires_at=None, lease_token=None, **fields))


@dataclass
class PushReport:
    claimed: int = 0
    done: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def stripe_outbox_claim(*, limit: int, only_ids: Sequence[int] | None = None) -> list[Lease]:
    """Lease up to `limit` due commands (of `only_ids`, when given) to this worker."""
    now = timezone.now()
    token = uuid.uuid4()
    due = Q(status=StripeCommandStatus.PENDING, next_attempt_at__lte=now) | Q(
        status=StripeCommandStatus.IN_PROGRESS, lease_expires_at__lt=now
    )
    if only_ids is not None:
        due &= Q(id__in=only_ids)
    with transaction.atomic():
        ids = list(
            StripeCommand.objects.filter(due)
            .order_by("next_attempt_at", "id")
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[:limit]
        )
        StripeCommand.objects.filter(id__in=ids).update(
            status=StripeCommandStatus.IN_PROGRESS,
            lease_expires_at=now + timedelta(seconds=settings.STRIPE_OUTBOX_LEASE_SECONDS),
            lease_token=token,
            attempts=F("attempts") + 1,
        )
    return [Lease(command_id=command_id, token=token) for command_id in ids]


def stripe_outbox_push(
    *, run_seconds: float | None = None, gateway: StripeGateway | None = None
) -> PushReport:
    """Push due commands until none is due or `run_seconds` have passed."""
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("The Stripe outbox must not be pushed inside a database transaction.")
    gateway = gateway or stripe_gateway()
    budget = settings.STRIPE_OUTBOX_RUN_SECONDS if run_seconds is None else run_seconds
    deadline = time.monotonic() + budget
    report = PushReport()
    while time.monotonic() < deadline:
        leases = stripe_outbox_claim(limit=settings.STRIPE_OUTBOX_BATCH_SIZE)
        if not leases:
            break
        report.claimed += len(leases)
        for lease in leases:
            _run_command(lease=lease, gateway=gateway, report=report)
    return report


def stripe_outbox_push_now(
    *, command_ids: Sequence[int], gateway: StripeGateway | None = None
) -> PushReport:
    """Push these commands now, in order, from the caller's thread (e.g. a sign-up that
    answers with the charge's outcome). Commands another worker holds are left to it; what
    fails transiently stays queued for the regular pusher."""
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("The Stripe outbox must not be pushed inside a database transaction.")
    gateway = gateway or stripe_gateway()
    report = PushReport()
    for lease in stripe_outbox_claim(limit=len(command_ids), only_ids=command_ids):
        report.claimed += 1
        _run_command(lease=lease, gateway=gateway, report=report)
    return report


def _run_command(*, lease: Lease, gateway: StripeGateway, report: PushReport) -> None:
    command = StripeCommand.objects.select_related(
        "customer", "invoice__customer", "refund__payment", "credit_note"
    ).get(pk=lease.command_id)
    try:
        lease.renew()  # the batch may have waited; hold this one for a full lease from now
        if command.attempts > settings.STRIPE_OUTBOX_MAX_ATTEMPTS:  # its workers kept dying
            raise StripeRequestError(f"gave up after {command.attempts - 1} attempts")
        EXECUTORS[StripeCommandKind(command.kind)](command, gateway, lease)
    except LeaseLostError:
        return  # the worker that holds it now reports it
    except StripeTransientError as exc:
        _command_retry_later(command, lease, report, error=f"{exc.http_status or 'network'}: {exc}")
    except CommandNotReadyError as exc:
        _command_retry_later(command, lease, report, error=f"waiting: {exc}")
    except (StripeRequestError, DomainError) as exc:
        _command_fail(command, lease, report, error=f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # a bug or an outage we did not foresee: retry, never wedge
        logger.exception("Stripe command %s #%s raised", command.kind, command.pk)
        _command_retry_later(command, lease, report, error=f"{type(exc).__name__}: {exc}")
    else:
        lease.finish(status=StripeCommandStatus.DONE, completed_at=timezone.now(), last_error="")
        report.done += 1


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff with jitter: base * 2^(n-1), capped, times a random 0.5 to 1.0."""
    ceiling: float = min(
        settings.STRIPE_OUTBOX_BACKOFF_MAX_SECONDS,
        settings.STRIPE_OUTBOX_BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0),
    )
    return ceiling * random.uniform(0.5, 1.0)  # noqa: S311  (jitter, not cryptography)


def _command_retry_later(
    command: StripeCommand, lease: Lease, report: PushReport, *, error: str
) -> None:
    attempts = command.attempts
    if attempts >= settings.STRIPE_OUTBOX_MAX_ATTEMPTS:
        _command_fail(
            command, lease, report, error=f"gave up after {attempts} attempts; last: {error}"
        )
        return
    lease.finish(
        status=StripeCommandStatus.PENDING,
        next_attempt_at=timezone.now() + timedelta(seconds=backoff_seconds(attempts)),
        last_error=error[:2000],
    )
    report.retried += 1


def _command_fail(command: StripeCommand, lease: Lease, report: PushReport, *, error: str) -> None:
    logger.error("Stripe command %s #%s failed: %s", command.kind, command.pk, error)
    lease.finish(status=StripeCommandStatus.FAILED, last_error=error[:2000])
    report.failed += 1
    report.errors.append(f"{command.kind} #{command.pk}: {error}")


# --- executors: one per command kind ----------------------------------------------------------

Executor = Callable[[StripeCommand, StripeGateway, Lease], None]


def _customer_ensure_in_stripe(*, customer: BillingCustomer, gateway: StripeGateway) -> str:
    """The Stripe customer id, creating the customer first if needed. The key depends on the
    customer alone, so however many commands race here, Stripe creates one customer."""
    if customer.stripe_customer_id:
        return customer.stripe_customer_id
    stripe_id = gateway.customer_create(
        email=customer.email,
        name=customer.name,
        metadata={"local_customer_id": str(customer.pk)},
        idempotency_key=f"{installation_key_prefix()}:customer:{customer.pk}:create",
    )
    billing_customer_record_stripe_state(customer=customer, stripe_customer_id=stripe_id)
    return stripe_id


def _customer_sync(command: StripeCommand, gateway: StripeGateway, lease: Lease) -> None:
    customer = command.customer
    if customer is None:
        raise DomainError("customer_sync without a customer")
    existed = bool(customer.stripe_customer_id)
    stripe_id = _customer_ensure_in_stripe(customer=customer, gateway=gateway)
    if existed:
        gateway.customer_update(
            customer_id=stripe_id,
            email=customer.email,
            name=customer.name,
            default_payment_method_id=None,
            idempotency_key=f"{command.idempotency_key}:update",
        )
    to_attach = str(command.payload.get("payment_method_id") or "")
    if to_attach:
        lease.renew()
        method = gateway.payment_method_attach(
            payment_method_id=to_attach,
            customer_id=stripe_id,
            idempotency_key=f"{command.idempotency_key}:attach",
        )
        gateway.customer_update(
            customer_id=stripe_id,
            email=customer.email,
            name=customer.name,
            default_payment_method_id=method.id,
            idempotency_key=f"{command.idempotency_key}:default",
        )
        billing_customer_record_stripe_state(
            customer=customer, attached_payment_method_id=method.id, attached_from=to_attach
        )


def _invoice_push(command: StripeCommand, gateway: StripeGateway, lease: Lease) -> None:
    invoice = _command_invoice(command)
    key = command.idempotency_key
    customer_id = _customer_ensure_in_stripe(customer=invoice.customer, gateway=gateway)
    if invoice.stripe_invoice_id is None:
        created = gateway.invoice_create(
            customer_id=customer_id,
            currency=invoice.currency,
            collection_method=invoice.collection_method,
            days_until_due=invoice.days_until_due,
            description=invoice.description,
            metadata={"local_invoice_id": str(invoice.pk)},
            idempotency_key=f"{key}:create",
        )
        invoice_record_stripe_ids(invoice=invoice, stripe_invoice_id=created.id)
    stripe_invoice_id = str(invoice.stripe_invoice_id)
    for line in invoice.lines.filter(stripe_invoice_item_id__isnull=True).order_by("id"):
        item_id = gateway.invoice_item_add(
            customer_id=customer_id,
            invoice_id=stripe_invoice_id,
            amount_cents=line.amount_cents,
            currency=invoice.currency,
            description=line.description,
            period_start=line.period_start,
            period_end=line.period_end,
            metadata={"local_invoice_id": str(invoice.pk), "local_invoice_line_id": str(line.pk)},
            idempotency_key=f"{key}:line:{line.pk}",
        )
        invoice_record_stripe_ids(invoice=invoice, line_items={line.pk: item_id})
        lease.renew()
    if command.attempts > 1:
        # A retry: Stripe may be further along than we recorded (a crash after a call).
        invoice_sync_from_stripe(snapshot=gateway.invoice_retrieve(invoice_id=stripe_invoice_id))
        invoice.refresh_from_db()
    if invoice.status == InvoiceStatus.DRAFT:
        finalized = gateway.invoice_finalize(
            invoice_id=stripe_invoice_id, idempotency_key=f"{key}:finalize"
        )
        invoice_sync_from_stripe(snapshot=finalized)
        invoice.refresh_from_db()
    if invoice.status != InvoiceStatus.OPEN:
        return  # paid already (a zero total, or a payment we learned of by retrieving)
    if invoice.collection_method == CollectionMethod.CHARGE_AUTOMATICALLY:
        if invoice.payments.exists():
            return  # the first charge was already attempted and recorded (e.g. declined)
        _wait_for_customer_sync(invoice.customer)
        outcome = gateway.invoice_pay(invoice_id=stripe_invoice_id, idempotency_key=f"{key}:pay:1")
        payment_record_outcome(invoice=invoice, outcome=outcome)
    else:
        sent = gateway.invoice_send(invoice_id=stripe_invoice_id, idempotency_key=f"{key}:send")
        invoice_sync_from_stripe(snapshot=sent)


def _invoice_pay(command: StripeCommand, gateway: StripeGateway, lease: Lease) -> None:
    """A further charge attempt (attempt n of the invoice, key `…:pay:n`)."""
    invoice = _command_invoice(command)
    if invoice.stripe_invoice_id is None:
        raise CommandNotReadyError("the invoice has not reached Stripe yet")
    _wait_for_customer_sync(invoice.customer)
    if command.attempts > 1:
        invoice_sync_from_stripe(
            snapshot=gateway.invoice_retrieve(invoice_id=invoice.stripe_invoice_id)
        )
        invoice.refresh_from_db()
    attempt = int(command.payload.get("attempt", 1))
    if invoice.status not in {InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE}:
        return  # paid meanwhile (or voided): nothing to charge
    if invoice.payments.count() >= attempt:
        return  # this attempt was already made and recorded
    outcome = gateway.invoice_pay(
        invoice_id=invoice.stripe_invoice_id, idempotency_key=command.idempotency_key
    )
    payment_record_outcome(invoice=invoice, outcome=outcome)


def _refund_create(command: StripeCommand, gateway: StripeGateway, lease: Lease) -> None:
    refund = command.refund
    if refund is None:
        raise DomainError("refund_create without a refund")
    result = gateway.refund_create(
        payment_intent_id=str(refund.payment.stripe_payment_intent_id),
        amount_cents=refund.amount_cents,
        metadata={"local_refund_id": str(refund.pk)},
        idempotency_key=command.idempotency_key,
    )
    refund_record_stripe_result(
        refund=refund, stripe_refund_id=result.id, succeeded=result.status == "succeeded"
    )


def _payment_fee_fetch(command: StripeCommand, gateway: StripeGateway, lease: Lease) -> None:
    """Read a succeeded payment's Stripe fee from its charge's balance transaction (a GET: no
    idempotency key needed) and record it in a transaction of its own."""
    payment = Payment.objects.get(pk=int(command.payload["payment_id"]))
    if payment.stripe_fee_cents is not None:
        return
    if not payment.stripe_payment_intent_id:
        # Recorded from a webhook, whose invoice lists no payments: ask Stripe for them.
        invoice_sync_from_stripe(
            snapshot=gateway.invoice_retrieve(invoice_id=str(payment.invoice.stripe_invoice_id))
        )
        payment.refresh_from_db()
    if not payment.stripe_payment_intent_id:
        return  # no card charge in Stripe (e.g. paid out of band): no fee to read
    fee = gateway.payment_fee_retrieve(payment_intent_id=payment.stripe_payment_intent_id)
    if fee is None:
        raise CommandNotReadyError("the charge has no balance transaction yet")
    payment_record_fee(payment=payment, charge_id=fee.charge_id, fee_cents=fee.fee)


def _credit_note_create(command: StripeCommand, gateway: StripeGateway, lease: Lease) -> None:
    """A pre-payment credit note on an open invoice; then the invoice as Stripe now has it
    (its amount due lowered, or paid when nothing is left), so the local one follows without
    waiting for the webhook. Stripe refusing the note marks it failed (its amount is creditable
    again) and the command failed."""
    note = command.credit_note
    if note is None:
        raise DomainError("credit_note_create without a credit note")
    invoice = _command_invoice(command)
    if invoice.stripe_invoice_id is None:
        raise CommandNotReadyError("the invoice has not reached Stripe yet")
    if note.status == CreditNoteStatus.PENDING and invoice.status != InvoiceStatus.OPEN:
        # Paid (or closed) since: Stripe would turn the note into a balance credit. Refused.
        credit_note_record_stripe_result(credit_note=note, issued=False)
        raise DomainError(f"the invoice is {invoice.status} now, no longer open")
    try:
        result = gateway.credit_note_create(
            invoice_id=invoice.stripe_invoice_id,
            amount_cents=note.amount_cents,
            reason=None,  # Stripe's reasons are a fixed list; finance's words go in the memo
            memo=note.reason,
            refund_amount_cents=0,
            metadata={"local_credit_note_id": str(note.pk)},
            idempotency_key=command.idempotency_key,
        )
    except StripeRequestError:
        credit_note_record_stripe_result(credit_note=note, issued=False)
        raise
    credit_note_record_stripe_result(
        credit_note=note, stripe_credit_note_id=result.id, number=result.number, issued=True
    )
    lease.renew()
    invoice_sync_from_stripe(
        snapshot=gateway.invoice_retrieve(invoice_id=invoice.stripe_invoice_id)
    )


def _wait_for_customer_sync(customer: BillingCustomer) -> None:
    """Charging before the customer's new card reached Stripe would charge the old one."""
    if StripeCommand.objects.filter(
        customer=customer,
        kind=StripeCommandKind.CUSTOMER_SYNC,
        status__in=[StripeCommandStatus.PENDING, StripeCommandStatus.IN_PROGRESS],
    ).exists():
        raise CommandNotReadyError("the customer's payment method is not in Stripe yet")


def _invoice_close(action: Callable[..., object]) -> Executor:
    def execute(command: StripeCommand, gateway: StripeGateway, lease: Lease) -> None:
        invoice = _command_invoice(command)
        if invoice.stripe_invoice_id is None:
            raise StripeTransientError("the invoice has not reached Stripe yet")
        snapshot = action(
            gateway, invoice_id=invoice.stripe_invoice_id, idempotency_key=command.idempotency_key
        )
        invoice_sync_from_stripe(snapshot=snapshot)  # type: ignore[arg-type]

    return execute


def _command_invoice(command: StripeCommand) -> Invoice:
    if command.invoice is None:
        raise DomainError(f"{command.kind} without an invoice")
    return command.invoice


EXECUTORS: dict[StripeCommandKind, Executor] = {
    StripeCommandKind.CUSTOMER_SYNC: _customer_sync,
    StripeCommandKind.INVOICE_PUSH: _invoice_push,
    StripeCommandKind.INVOICE_PAY: _invoice_pay,
    StripeCommandKind.REFUND_CREATE: _refund_create,
    StripeCommandKind.PAYMENT_FEE_FETCH: _payment_fee_fetch,
    StripeCommandKind.CREDIT_NOTE_CREATE: _credit_note_create,
    StripeCommandKind.INVOICE_VOID: _invoice_close(StripeGateway.invoice_void),
    StripeCommandKind.INVOICE_MARK_UNCOLLECTIBLE: _invoice_close(
        StripeGateway.invoice_mark_uncollectible
    ),
}
