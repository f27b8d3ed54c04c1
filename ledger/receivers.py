"""Connections from billing's and memberships' signals to ledger services (no logic here)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from billing.models import CreditNote, Dispute, Invoice, Payment, Refund
from billing.signals import (
    credit_note_issued,
    dispute_closed,
    dispute_opened,
    invoice_finalized,
    invoice_voided,
    invoice_written_off,
    payment_fee_recorded,
    payment_succeeded,
    refund_succeeded,
)
from ledger.services import (
    ledger_credit_note_issued,
    ledger_dispute_closed,
    ledger_dispute_opened,
    ledger_invoice_finalized,
    ledger_invoice_voided,
    ledger_invoice_written_off,
    ledger_membership_service_ended,
    ledger_payment_fee_recorded,
    ledger_payment_succeeded,
    ledger_refund_succeeded,
)
from memberships.models import Membership
from memberships.signals import membership_service_ended


@receiver(invoice_finalized, dispatch_uid="ledger.invoice_finalized")
def on_invoice_finalized(sender: type[Invoice], *, invoice: Invoice, **kwargs: Any) -> None:
    ledger_invoice_finalized(invoice=invoice)


@receiver(invoice_written_off, dispatch_uid="ledger.invoice_written_off")
def on_invoice_written_off(sender: type[Invoice], *, invoice: Invoice, **kwargs: Any) -> None:
    ledger_invoice_written_off(invoice=invoice)


@receiver(invoice_voided, dispatch_uid="ledger.invoice_voided")
def on_invoice_voided(sender: type[Invoice], *, invoice: Invoice, **kwargs: Any) -> None:
    ledger_invoice_voided(invoice=invoice)


@receiver(payment_succeeded, dispatch_uid="ledger.payment_succeeded")
def on_payment_succeeded(sender: type[Payment], *, payment: Payment, **kwargs: Any) -> None:
    ledger_payment_succeeded(payment=payment)


@receiver(refund_succeeded, dispatch_uid="ledger.refund_succeeded")
def on_refund_succeeded(sender: type[Refund], *, refund: Refund, **kwargs: Any) -> None:
    ledger_refund_succeeded(refund=refund)


@receiver(payment_fee_recorded, dispatch_uid="ledger.payment_fee_recorded")
def on_payment_fee_recorded(sender: type[Payment], *, payment: Payment, **kwargs: Any) -> None:
    ledger_payment_fee_recorded(payment=payment)


@receiver(dispute_opened, dispatch_uid="ledger.dispute_opened")
def on_dispute_opened(sender: type[Dispute], *, dispute: Dispute, **kwargs: Any) -> None:
    ledger_dispute_opened(dispute=dispute)


@receiver(dispute_closed, dispatch_uid="ledger.dispute_closed")
def on_dispute_closed(sender: type[Dispute], *, dispute: Dispute, **kwargs: Any) -> None:
    ledger_dispute_closed(dispute=dispute)


@receiver(credit_note_issued, dispatch_uid="ledger.credit_note_issued")
def on_credit_note_issued(
    sender: type[CreditNote], *, credit_note: CreditNote, **kwargs: Any
) -> None:
    ledger_credit_note_issued(credit_note=credit_note)


@receiver(membership_service_ended, dispatch_uid="ledger.membership_service_ended")
def on_membership_service_ended(
    sender: type[Membership], *, membership: Membership, last_day: Any, **kwargs: Any
) -> None:
    ledger_membership_service_ended(membership=membership, last_day=last_day)
