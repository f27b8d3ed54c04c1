"""Compares local invoices and payments with Stripe and reports drift.

Kinds of drift, and whether `repair=True` mends them:

- `status_behind`: Stripe moved the invoice forward and we missed it (a lost webhook).
  Repaired: the forward-only sync applies it, with its payment.
- `unlinked`: Stripe has the invoice (its metadata names ours) but we lack its id.
  Repaired: the id is stored and the status synced.
- `payment_missing`: paid locally without its succeeded payment row. Repaired.
- `status_ahead`: we record a status Stripe does not have (e.g. paid while Stripe says open).
  Reported only: a person looks.
- `amount_mismatch`: totals differ. Reported only.
- `missing_in_stripe`: we hold a Stripe id that Stripe does not know. Reported only.
- `unknown_in_stripe`: a Stripe invoice no local invoice claims. Reported only.

Repairs go through the same services as webhooks, so they are safe to repeat.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from billing.invoice_status import is_forward
from billing.models import Invoice, InvoiceStatus, Payment, PaymentStatus
from billing.services import invoice_sync_from_stripe
from billing.stripe_gateway import StripeGateway, StripeInvoiceSnapshot, stripe_gateway

REPAIRABLE = frozenset({"status_behind", "unlinked", "payment_missing"})


@dataclass(frozen=True)
class Drift:
    kind: str
    invoice_id: int | None
    stripe_invoice_id: str
    local: str
    stripe: str
    repaired: bool


@dataclass
class ReconciliationReport:
    checked_local: int = 0
    checked_stripe: int = 0
    drifts: list[Drift] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "checked_local": self.checked_local,
            "checked_stripe": self.checked_stripe,
            "drift": dict(Counter(d.kind for d in self.drifts)),
            "repaired": sum(d.repaired for d in self.drifts),
        }


def stripe_reconcile(
    *,
    since: dt.datetime | None = None,
    repair: bool = True,
    gateway: StripeGateway | None = None,
) -> ReconciliationReport:
    """Compare invoices created since `since` (all when None) with Stripe's."""
    gateway = gateway or stripe_gateway()
    report = ReconciliationReport()
    stripe_invoices = {s.id: s for s in gateway.invoices_list(created_gte=since)}
    report.checked_stripe = len(stripe_invoices)

    local = (
        Invoice.objects.all() if since is None else Invoice.objects.filter(created_at__gte=since)
    )
    local_by_stripe_id: dict[str, Invoice] = {}
    with_payment = set(
        Payment.objects.filter(invoice__in=local, status=PaymentStatus.SUCCEEDED).values_list(
            "invoice_id", flat=True
        )
    )
    for invoice in local.order_by("id").iterator(chunk_size=2000):
        report.checked_local += 1
        if invoice.stripe_invoice_id is None:
            continue
        local_by_stripe_id[invoice.stripe_invoice_id] = invoice
        snapshot = stripe_invoices.get(invoice.stripe_invoice_id)
        if snapshot is None:
            report.drifts.append(
                Drift(
                    "missing_in_stripe",
                    invoice.pk,
                    invoice.stripe_invoice_id,
                    invoice.status,
                    "",
                    False,
                )
            )
            continue
        _compare(
            invoice=invoice,
            snapshot=snapshot,
            has_payment=invoice.pk in with_payment,
            repair=repair,
            report=report,
        )

    for snapshot in stripe_invoices.values():
        if snapshot.id in local_by_stripe_id:
            continue
        local_id = snapshot.metadata.get("local_invoice_id", "")
        claimed = (
            Invoice.objects.filter(pk=int(local_id), stripe_invoice_id__isnull=True).first()
            if local_id.isdigit()
            else None
        )
        if claimed is None:
            if not Invoice.objects.filter(stripe_invoice_id=snapshot.id).exists():
                report.drifts.append(
                    Drift("unknown_in_stripe", None, snapshot.id, "", snapshot.status, False)
                )
            continue
        if repair:
            invoice_sync_from_stripe(snapshot=snapshot)
        report.drifts.append(
            Drift("unlinked", claimed.pk, snapshot.id, claimed.status, snapshot.status, repair)
        )
    return report


def _compare(
    *,
    invoice: Invoice,
    snapshot: StripeInvoiceSnapshot,
    has_payment: bool,
    repair: bool,
    report: ReconciliationReport,
) -> None:
    local_status = InvoiceStatus(invoice.status)
    stripe_status = InvoiceStatus(snapshot.status)
    if snapshot.total != invoice.total_cents:
        report.drifts.append(
            Drift(
                "amount_mismatch",
                invoice.pk,
                snapshot.id,
                str(invoice.total_cents),
                str(snapshot.total),
                False,
            )
        )
    if stripe_status != local_status:
        behind = is_forward(local_status, stripe_status)
        if behind and repair:
            invoice_sync_from_stripe(snapshot=snapshot)
        report.drifts.append(
            Drift(
                "status_behind" if behind else "status_ahead",
                invoice.pk,
                snapshot.id,
                local_status,
                stripe_status,
                behind and repair,
            )
        )
    elif local_status == InvoiceStatus.PAID and not has_payment:
        if repair:
            invoice_sync_from_stripe(snapshot=snapshot)
        report.drifts.append(
            Drift("payment_missing", invoice.pk, snapshot.id, local_status, stripe_status, repair)
        )
