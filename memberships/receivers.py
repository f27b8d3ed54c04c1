"""Connections from billing's signals to membership services (no logic here)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from billing.models import Invoice, Payment
from billing.signals import invoice_paid, invoice_payment_failed
from memberships.dunning import membership_invoice_payment_failed
from memberships.services import membership_invoice_paid


@receiver(invoice_paid, dispatch_uid="memberships.invoice_paid")
def on_invoice_paid(sender: type[Invoice], *, invoice: Invoice, **kwargs: Any) -> None:
    membership_invoice_paid(invoice=invoice)


@receiver(invoice_payment_failed, dispatch_uid="memberships.invoice_payment_failed")
def on_invoice_payment_failed(
    sender: type[Invoice], *, invoice: Invoice, payment: Payment, **kwargs: Any
) -> None:
    membership_invoice_payment_failed(invoice=invoice, payment=payment)
