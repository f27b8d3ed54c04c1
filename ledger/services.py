"""What each business event posts (DESIGN.md §6). Every function is idempotent: its entry's key
names the event, so a replayed webhook, a re-run task or a concurrent worker posts nothing twice.

- invoice finalized (`invoice:<id>:finalized`): per positive line Dr receivable, Cr deferred
  revenue, and a revenue schedule for the line; per credit line Dr refunds and credits,
  Cr receivable;
- payment succeeded (`payment:<id>`): Dr Stripe cash, Cr receivable;
- payment's Stripe fee recorded (`payment:<id>:fee`): Dr Stripe fees, Cr Stripe cash;
- refund succeeded (`refund:<id>`): Dr refunds and credits (split over the invoice's positive
  lines by amount), Cr Stripe cash;
- dispute opened (`dispute:<id>:opened`): Dr disputed funds, Cr Stripe cash (Stripe holds the
  disputed amount);
- dispute won (`dispute:<id>:won`; also an inquiry closed or a dispute prevented,
  `dispute:<id>:<status>`): Dr Stripe cash, Cr disputed funds;
- dispute lost (`dispute:<id>:lost`): Dr refunds and credits (split over the invoice's positive
  lines by amount, like a refund, so partner statements net it out), Cr disputed funds;
- credit note issued on an open invoice (`credit_note:<id>`): Dr refunds and credits (split
  the same way), Cr receivable;
- invoice uncollectible (`invoice:<id>:written_off`): Dr bad debt, Cr receivable (the unpaid);
- invoice voided (`invoice:<id>:voided`, `…:voided:recognition`,
  `credit_note:<id>:voided`): the finalization reversed, any revenue already recognized from
  it, and its credit notes;
- membership service ended early (no entry): its open schedules recognize the rest on the
  last served day.

Receivables are per payer type (member, employer). Postings carry the partner, market,
membership and invoice line of the revenue they concern (the member's home market on the first
day of the line's period). Entries are dated `clock.today()`.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from billing.models import (
    CreditNote,
    CreditNoteStatus,
    Dispute,
    DisputeStatus,
    Invoice,
    InvoiceLine,
    Payment,
    Refund,
)
from billing.proration import allocate_cents
from config import clock
from ledger import chart
from ledger.journal import (
    Dimensions,
    PostingInput,
    debit_credit,
    journal_entry_post,
    journal_entry_reverse,
)
from ledger.models import Account, JournalEntry, RevenueSchedule
from memberships.models import Membership
from memberships.selectors import member_market_on


def _receivable(invoice: Invoice) -> Account:
    if invoice.customer.employer_id is not None:
        return chart.account_get(chart.RECEIVABLE_EMPLOYER)
    return chart.account_get(chart.RECEIVABLE_MEMBER)


def _line_dimensions(line: InvoiceLine) -> Dimensions:
    membership = line.membership
    if membership is None:
        return Dimensions(invoice_line_id=line.pk)
    market = member_market_on(member=membership.member, on=line.period_start)
    return Dimensions(
        partner_id=market.partner_id if market else None,
        market_id=market.pk if market else None,
        membership_id=membership.pk,
        invoice_line_id=line.pk,
    )


@transaction.atomic
def ledger_invoice_finalized(*, invoice: Invoice) -> JournalEntry | None:
    """Receivable against deferred revenue, and a revenue schedule for each positive line."""
    key = f"invoice:{invoice.pk}:finalized"
    if JournalEntry.objects.filter(idempotency_key=key).exists():
        return None
    receivable = _receivable(invoice)
    deferred = chart.account_get(chart.DEFERRED_REVENUE)
    contra = chart.account_get(chart.REFUNDS_CREDITS)
    postings: list[PostingInput] = []
    lines = invoice.lines.select_related("membership__member").order_by("id")
    for line in lines:
        dims = _line_dimensions(line)
        if line.amount_cents > 0:
            postings += debit_credit(
                debit=receivable,
                credit=deferred,
                amount_cents=line.amount_cents,
                dimensions=dims,
                currency=invoice.currency,
            )
            _schedule_create(line=line, dims=dims, currency=invoice.currency)
        elif line.amount_cents < 0:
            postings += debit_credit(
                debit=contra,
                credit=receivable,
                amount_cents=-line.amount_cents,
                dimensions=dims,
                currency=invoice.currency,
            )
    return journal_entry_post(
        idempotency_key=key,
        kind="invoice_finalized",
        occurred_on=clock.today(),
        postings=postings,
        memo=f"invoice {invoice.number or invoice.pk}",
    )


def _schedule_create(*, line: InvoiceLine, dims: Dimensions, currency: str) -> None:
    ends_early_on = None
    membership = line.membership
    if membership is not None and membership.ended_at is not None:
        last_day = membership_last_served_day(ended_at=membership.ended_at)
        if last_day < line.period_end:
            ends_early_on = last_day
    RevenueSchedule.objects.get_or_create(
        invoice_line=line,
        defaults={
            "total_cents": line.amount_cents,
            "currency": currency,
            "service_start": line.period_start,
            "service_end": line.period_end,
            "ends_early_on": ends_early_on,
            "partner_id": dims.partner_id,
            "market_id": dims.market_id,
            "membership_id": dims.membership_id,
        },
    )


def membership_last_served_day(*, ended_at: dt.datetime) -> dt.date:
    """A membership that ends on a day is not served that day (the refund counts it unused)."""
    return timezone.localdate(ended_at) - dt.timedelta(days=1)


@transaction.atomic
def ledger_payment_succeeded(*, payment: Payment) -> JournalEntry | None:
    invoice = payment.invoice
    return journal_entry_post(
        idempotency_key=f"payment:{payment.pk}",
        kind="payment",
        occurred_on=clock.today(),
        postings=debit_credit(
            debit=chart.account_get(chart.CASH_STRIPE),
            credit=_receivable(invoice),
            amount_cents=payment.amount_cents,
            currency=payment.currency,
        ),
        memo=f"payment of invoice {invoice.number or invoice.pk}",
    )


@transaction.atomic
def ledger_payment_fee_recorded(*, payment: Payment) -> JournalEntry | None:
    """What Stripe kept of the payment: an expense out of the Stripe balance."""
    if payment.stripe_fee_cents is None:
        return None
    return journal_entry_post(
        idempotency_key=f"payment:{payment.pk}:fee",
        kind="stripe_fee",
        occurred_on=clock.today(),
        postings=debit_credit(
            debit=chart.account_get(chart.STRIPE_FEES),
            credit=chart.account_get(chart.CASH_STRIPE),
            amount_cents=payment.stripe_fee_cents,
            currency=payment.currency,
        ),
        memo=f"Stripe fee of payment {payment.stripe_charge_id or payment.pk}",
    )


def _revenue_reduction_postings(
    *, invoice: Invoice, amount_cents: int, credit: Account, currency: str
) -> list[PostingInput]:
    """Dr refunds and credits (contra revenue), Cr `credit`, split over the invoice's positive
    lines in proportion to their amounts (billing.proration.allocate_cents) with the dimensions
    of each line's revenue, so each line's net, and each partner's, is known."""
    lines = [line for line in invoice.lines.order_by("id") if line.amount_cents > 0]
    contra = chart.account_get(chart.REFUNDS_CREDITS)
    if not lines:
        return debit_credit(
            debit=contra, credit=credit, amount_cents=amount_cents, currency=currency
        )
    parts = allocate_cents(amount_cents, [line.amount_cents for line in lines])
    schedules = {
        s.invoice_line_id: s
        for s in RevenueSchedule.objects.filter(invoice_line__in=[line.pk for line in lines])
    }
    postings: list[PostingInput] = []
    for line, part in zip(lines, parts, strict=True):
        schedule = schedules.get(line.pk)
        dims = Dimensions.of_schedule(schedule) if schedule else _line_dimensions(line)
        postings += debit_credit(
            debit=contra, credit=credit, amount_cents=part, dimensions=dims, currency=currency
        )
    return postings


@transaction.atomic
def ledger_refund_succeeded(*, refund: Refund) -> JournalEntry | None:
    """Money back to the card: Dr refunds and credits (split over the invoice's positive lines
    in proportion to their amounts, so each line's net is known), Cr Stripe cash."""
    payment = refund.payment
    return journal_entry_post(
        idempotency_key=f"refund:{refund.pk}",
        kind="refund",
        occurred_on=clock.today(),
        postings=_revenue_reduction_postings(
            invoice=payment.invoice,
            amount_cents=refund.amount_cents,
            credit=chart.account_get(chart.CASH_STRIPE),
            currency=payment.currency,
        ),
        memo=refund.reason,
    )


@transaction.atomic
def ledger_dispute_opened(*, dispute: Dispute) -> JournalEntry | None:
    """Stripe takes the disputed amount out of the balance and holds it."""
    return journal_entry_post(
        idempotency_key=f"dispute:{dispute.stripe_dispute_id}:opened",
        kind="dispute_opened",
        occurred_on=clock.today(),
        postings=debit_credit(
            debit=chart.account_get(chart.DISPUTED_FUNDS),
            credit=chart.account_get(chart.CASH_STRIPE),
            amount_cents=dispute.amount_cents,
            currency=dispute.currency,
        ),
        memo=f"dispute {dispute.stripe_dispute_id} opened ({dispute.reason})",
    )


@transaction.atomic
def ledger_dispute_closed(*, dispute: Dispute) -> JournalEntry | None:
    """Lost: the held funds are gone for good, a reduction of the invoice's revenue like a
    refund. Won (or otherwise closed in our favour): they come back to the balance."""
    ledger_dispute_opened(dispute=dispute)  # closing moves what opening held
    held = chart.account_get(chart.DISPUTED_FUNDS)
    if dispute.status == DisputeStatus.LOST:
        postings = _revenue_reduction_postings(
            invoice=dispute.payment.invoice,
            amount_cents=dispute.amount_cents,
            credit=held,
            currency=dispute.currency,
        )
        kind = "dispute_lost"
    else:
        postings = debit_credit(
            debit=chart.account_get(chart.CASH_STRIPE),
            credit=held,
            amount_cents=dispute.amount_cents,
            currency=dispute.currency,
        )
        kind = "dispute_won"
    return journal_entry_post(
        idempotency_key=f"dispute:{dispute.stripe_dispute_id}:{dispute.status}",
        kind=kind,
        occurred_on=clock.today(),
        postings=postings,
        memo=f"dispute {dispute.stripe_dispute_id} {dispute.status}",
    )


@transaction.atomic
def ledger_credit_note_issued(*, credit_note: CreditNote) -> JournalEntry | None:
    """An open invoice asks for less: Dr refunds and credits (per line), Cr the receivable of
    its payer type. The invoice's finalization is posted first if it was not yet (its receivers
    are idempotent), so the receivable credited is always there."""
    invoice = credit_note.invoice
    ledger_invoice_finalized(invoice=invoice)
    return journal_entry_post(
        idempotency_key=f"credit_note:{credit_note.pk}",
        kind="credit_note",
        occurred_on=clock.today(),
        postings=_revenue_reduction_postings(
            invoice=invoice,
            amount_cents=credit_note.amount_cents,
            credit=_receivable(invoice),
            currency=invoice.currency,
        ),
        memo=credit_note.reason,
    )


@transaction.atomic
def ledger_invoice_written_off(*, invoice: Invoice) -> JournalEntry | None:
    ledger_invoice_finalized(invoice=invoice)
    unpaid = invoice.amount_remaining_cents  # credit notes took the rest off the receivable
    return journal_entry_post(
        idempotency_key=f"invoice:{invoice.pk}:written_off",
        kind="write_off",
        occurred_on=clock.today(),
        postings=debit_credit(
            debit=chart.account_get(chart.BAD_DEBT),
            credit=_receivable(invoice),
            amount_cents=unpaid,
            currency=invoice.currency,
        ),
        memo=f"invoice {invoice.number or invoice.pk} uncollectible",
    )


@transaction.atomic
def ledger_invoice_voided(*, invoice: Invoice) -> None:
    """Undo a finalized invoice: reverse its finalization and any revenue recognized from it;
    its schedules stop. A draft voided before finalization posted nothing and reverses nothing."""
    finalized = JournalEntry.objects.filter(
        idempotency_key=f"invoice:{invoice.pk}:finalized"
    ).first()
    if finalized is None:
        return
    today = clock.today()
    journal_entry_reverse(
        entry=finalized, idempotency_key=f"invoice:{invoice.pk}:voided", occurred_on=today
    )
    credited = JournalEntry.objects.filter(
        idempotency_key__in=[
            f"credit_note:{pk}"
            for pk in CreditNote.objects.filter(
                invoice=invoice, status=CreditNoteStatus.ISSUED
            ).values_list("pk", flat=True)
        ]
    )
    for credit_entry in credited:
        journal_entry_reverse(
            entry=credit_entry,
            idempotency_key=f"{credit_entry.idempotency_key}:voided",
            occurred_on=today,
        )
    schedules = list(
        RevenueSchedule.objects.select_for_update().filter(invoice_line__invoice=invoice)
    )
    postings: list[PostingInput] = []
    for schedule in schedules:
        postings += debit_credit(
            debit=chart.account_get(chart.MEMBERSHIP_REVENUE),
            credit=chart.account_get(chart.DEFERRED_REVENUE),
            amount_cents=schedule.recognized_cents,
            dimensions=Dimensions.of_schedule(schedule),
            currency=schedule.currency,
        )
    entry = journal_entry_post(
        idempotency_key=f"invoice:{invoice.pk}:voided:recognition",
        kind="recognition_reversed",
        occurred_on=today,
        postings=postings,
    )
    if entry is not None or not postings:
        RevenueSchedule.objects.filter(pk__in=[s.pk for s in schedules]).update(
            done=True, recognized_cents=0, total_cents=0
        )


def ledger_membership_service_ended(*, membership: Membership, last_day: dt.date) -> int:
    """The membership is no longer served after `last_day` (it ended, or a plan change
    replaced its period): its schedules that ran longer recognize the rest on that day."""
    return (
        RevenueSchedule.objects.filter(membership=membership, done=False, service_end__gt=last_day)
        .exclude(ends_early_on__lte=last_day)
        .update(ends_early_on=last_day)
    )
