"""The bill run: renews every membership whose period has ended by a date.

Rules:
- Only individual memberships: employer-sponsored ones (`sponsor` set) are billed per
  member-month by the employer invoicing run (employers/invoicing.py).
- A membership is **due** on day D when its current period ended before D
  (`current_period_end < D`): its next period has begun. `billing_run --as-of D` renews all of
  them, each for exactly one period (a membership several periods behind catches up one period
  per run).
- Renewing means, in one transaction per chunk: the next period's invoice (a membership fee
  line; the database allows one per membership and period start), the period moved on, a
  `renewed` event, and the outbox row that sends the invoice to Stripe after the commit.
- A membership set to cancel at period end is canceled instead; a scheduled plan change
  (`next_price`) takes effect.
- A Prime price is renewed only while Prime is verified for the new period's first day (the
  latest check's `verified_until`); otherwise the member renews at the standard annual price and
  a `prime_lapsed` event records the notice.
- Work is claimed in chunks with `SELECT … FOR UPDATE SKIP LOCKED`, so any number of runs (on
  any number of workers) split the due memberships between them; a renewed membership is no
  longer due, so running again, concurrently, or after a crash never bills a period twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from billing.models import BillingCustomer
from memberships.models import Membership, MembershipStatus, Price
from memberships.periods import period_end
from memberships.selectors import membership_renewal_price_get
from memberships.services import (
    membership_event_note,
    membership_fee_invoice_create,
    membership_transition,
)


@dataclass
class RenewalReport:
    renewed: int = 0
    canceled: int = 0
    prime_lapsed: int = 0

    @property
    def handled(self) -> int:
        return self.renewed + self.canceled


def memberships_renew_due(
    *,
    as_of: dt.date,
    chunk_size: int = 500,
    progress: Callable[[RenewalReport], None] | None = None,
) -> RenewalReport:
    """Renew every membership due on `as_of` (see the module docstring)."""
    report = RenewalReport()
    while True:
        handled = _renew_chunk(as_of=as_of, chunk_size=chunk_size, report=report)
        if progress is not None and handled:
            progress(report)
        if handled < chunk_size:
            return report


@transaction.atomic
def _renew_chunk(*, as_of: dt.date, chunk_size: int, report: RenewalReport) -> int:
    due = list(
        Membership.objects.filter(
            status=MembershipStatus.ACTIVE, current_period_end__lt=as_of, sponsor__isnull=True
        )
        .select_related("price", "next_price", "member")
        .order_by("current_period_end", "id")
        .select_for_update(skip_locked=True, of=("self",))[:chunk_size]
    )
    # one query for the chunk's billing customers, not one per membership
    customers = {
        customer.user_id: customer
        for customer in BillingCustomer.objects.filter(
            user_id__in=[membership.member.user_id for membership in due]
        )
    }
    prices: dict[tuple[str, dt.date], Price] = {}  # each price read once per chunk
    for membership in due:
        _renew_one(
            membership=membership,
            as_of=as_of,
            report=report,
            customers=customers,
            prices=prices,
        )
    return len(due)


def _renew_one(
    *,
    membership: Membership,
    as_of: dt.date,
    report: RenewalReport,
    customers: dict[int | None, BillingCustomer],
    prices: dict[tuple[str, dt.date], Price],
) -> None:
    if membership.cancel_at_period_end:
        membership_transition(
            membership=membership,
            to_status=MembershipStatus.CANCELED,
            kind="canceled_at_period_end",
            reason="canceled by the member; the paid period has ended",
        )
        report.canceled += 1
        return
    start = membership.current_period_end + dt.timedelta(days=1)
    renewal = membership_renewal_price_get(membership=membership, start=start, prices=prices)
    price = renewal.price
    end = period_end(start, price.interval)
    customer = customers.get(membership.member.user_id)
    if customer is None:
        raise BillingCustomer.DoesNotExist(f"No billing customer for {membership.member}.")
    invoice = membership_fee_invoice_create(
        membership=membership,
        customer=customer,
        price=price,
        start=start,
        end=end,
        description=f"Renewal {start.isoformat()} to {end.isoformat()}",
    )
    previous_price = membership.price
    membership.price = price
    membership.next_price = None
    membership.current_period_start = start
    membership.current_period_end = end
    membership.save(
        update_fields=["price", "next_price", "current_period_start", "current_period_end"]
    )
    if renewal.prime_lapsed:
        membership_event_note(
            membership=membership,
            kind="prime_lapsed",
            reason="Prime is not verified for the new period; renewed at the standard price",
            data={
                "was": renewal.planned.code,
                "now": price.code,
                "amount_cents": price.amount_cents,
            },
        )
        report.prime_lapsed += 1
    membership_event_note(
        membership=membership,
        kind="renewed",
        reason=f"bill run as of {as_of.isoformat()}",
        data={
            "invoice_id": invoice.pk,
            "price": price.code,
            "previous_price": previous_price.code,
            "period": [start.isoformat(), end.isoformat()],
        },
    )
    report.renewed += 1
