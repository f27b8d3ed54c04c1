"""Dunning: what happens when a renewal charge is declined.

Rules:
- A declined charge of a renewal invoice moves an active membership to `past_due`
  (event `renewal_failed`, with the decline code and the next retry's date); each declined
  retry records `retry_failed` with the next date, or `final` after the last one. Both email the
  member (memberships/notices.py). A declined first charge at sign-up leaves the
  membership `pending` instead (the sign-up answers 402).
- The invoice is charged again on the schedule `DUNNING_RETRY_DAYS` (days after the first
  decline: 3, 5 and 7), each retry an `invoice_pay_retry` with its own attempt number (event
  `dunning_retry`). A new card from the member (`/me/payment-method/`) retries at once.
- A successful retry pays the invoice, which restores the membership to `active` (event
  `recovered`, billing/services.py → memberships `membership_invoice_paid`).
- When the last scheduled retry has been declined too, the next dunning run cancels the
  membership (event `dunning_exhausted`) and marks the invoice uncollectible.
- `memberships_dunning_run(as_of=…)` is idempotent: a retry that is already queued or made is not
  queued again (the attempt number is part of the outbox key).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from billing.models import Invoice, InvoiceStatus, Payment, PaymentStatus
from billing.services import invoice_mark_uncollectible, invoice_pay_retry
from memberships.models import Membership, MembershipEvent, MembershipStatus
from memberships.services import (
    MEMBERSHIP_CHARGE_KINDS,
    membership_event_note,
    membership_transition,
)

DUNNING_RETRY_DAYS = (3, 5, 7)


@dataclass
class DunningReport:
    retries_queued: int = 0
    canceled: int = 0


def membership_invoice_payment_failed(*, invoice: Invoice, payment: Payment) -> None:
    """A charge of `invoice` was declined: an active membership billed by it becomes past due
    (`renewal_failed`); a past-due one records the failed retry (`retry_failed`). Both events
    say what happens next (the next retry's date, or that this was the last). Runs in the
    transaction that records the failed payment."""
    data = {
        "invoice_id": invoice.pk,
        "decline_code": payment.decline_code,
        **_dunning_next_step(invoice=invoice),
    }
    for membership in _memberships_billed_by(invoice).filter(
        status__in=[MembershipStatus.ACTIVE, MembershipStatus.PAST_DUE]
    ):
        if membership.status == MembershipStatus.ACTIVE:
            membership_transition(
                membership=membership,
                to_status=MembershipStatus.PAST_DUE,
                kind="renewal_failed",
                reason=payment.failure_message,
                data=data,
            )
        else:
            membership_event_note(
                membership=membership,
                kind="retry_failed",
                reason=payment.failure_message,
                data=data,
            )


def _dunning_next_step(*, invoice: Invoice) -> dict[str, Any]:
    """After the latest declined charge of `invoice`: which attempt it was and when the next
    retry is due (`next_retry_on`), or that none is left (`final`)."""
    failed_at = _declined_at(invoice)
    attempt = len(failed_at)
    if attempt == 0 or attempt > len(DUNNING_RETRY_DAYS):
        return {"attempt": attempt, "final": True}
    first_failed_on = timezone.localdate(failed_at[0])
    next_retry_on = first_failed_on + dt.timedelta(days=DUNNING_RETRY_DAYS[attempt - 1])
    return {"attempt": attempt, "final": False, "next_retry_on": next_retry_on.isoformat()}


def memberships_dunning_run(*, as_of: dt.date) -> DunningReport:
    """Queue the retries that are due on `as_of` and cancel memberships whose retries ran out."""
    report = DunningReport()
    for membership_id in Membership.objects.filter(status=MembershipStatus.PAST_DUE).values_list(
        "id", flat=True
    ):
        _dunning_step(membership_id=membership_id, as_of=as_of, report=report)
    return report


def dunning_retry_now(*, membership: Membership) -> bool:
    """Charge the past-due invoice again right away (the member gave a new card)."""
    invoice = _open_renewal_invoice(membership)
    if invoice is None:
        return False
    invoice_pay_retry(invoice=invoice)
    return True


@transaction.atomic
def _dunning_step(*, membership_id: int, as_of: dt.date, report: DunningReport) -> None:
    membership = (
        Membership.objects.select_for_update(skip_locked=True).filter(pk=membership_id).first()
    )
    if membership is None or membership.status != MembershipStatus.PAST_DUE:
        return
    invoice = _open_renewal_invoice(membership)
    if invoice is None:
        return
    failures = _declined_at(invoice)
    if not failures:
        return
    first_failed_on = timezone.localdate(failures[0])
    retries_made = len(failures) - 1
    if retries_made < len(DUNNING_RETRY_DAYS):
        due_on = first_failed_on + dt.timedelta(days=DUNNING_RETRY_DAYS[retries_made])
        if as_of >= due_on:
            invoice_pay_retry(invoice=invoice)
            if not MembershipEvent.objects.filter(
                membership=membership, kind="dunning_retry", data__attempt=len(failures) + 1
            ).exists():
                membership_event_note(
                    membership=membership,
                    kind="dunning_retry",
                    reason=f"retry {retries_made + 1} of {len(DUNNING_RETRY_DAYS)}",
                    data={"invoice_id": invoice.pk, "attempt": len(failures) + 1},
                )
                report.retries_queued += 1
        return
    membership_transition(
        membership=membership,
        to_status=MembershipStatus.CANCELED,
        kind="dunning_exhausted",
        reason=f"the renewal charge was declined {len(failures)} times",
        data={"invoice_id": invoice.pk},
    )
    invoice_mark_uncollectible(invoice=invoice)
    report.canceled += 1


def _declined_at(invoice: Invoice) -> list[dt.datetime]:
    """When each charge of the invoice was declined, oldest first."""
    return list(
        Payment.objects.filter(invoice=invoice, status=PaymentStatus.FAILED)
        .order_by("created_at", "id")
        .values_list("created_at", flat=True)
    )


def _memberships_billed_by(invoice: Invoice) -> QuerySet[Membership]:
    return Membership.objects.filter(
        invoice_lines__invoice=invoice, invoice_lines__kind__in=MEMBERSHIP_CHARGE_KINDS
    ).distinct()


def _open_renewal_invoice(membership: Membership) -> Invoice | None:
    return (
        Invoice.objects.filter(
            lines__membership=membership,
            lines__kind__in=MEMBERSHIP_CHARGE_KINDS,
            status=InvoiceStatus.OPEN,
        )
        .order_by("-created_at", "-id")
        .first()
    )
