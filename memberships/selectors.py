"""Membership reads."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import DateField, Exists, ExpressionWrapper, OuterRef, QuerySet

from billing.models import Invoice, InvoiceLine, InvoiceLineKind
from config.errors import NotFoundError
from memberships.models import (
    LIVE_STATUSES,
    Market,
    Member,
    MemberMarket,
    Membership,
    MembershipStatus,
    Price,
    PrimeStatus,
)

# The plan a Prime member renews on when Prime is no longer verified.
STANDARD_PRICE_CODE = "standard_annual"
SPONSORED_PRICE_CODE = "employer_sponsored"  # the plan of every employer-sponsored membership


def price_active_get(*, code: str, on: dt.date, sold_individually: bool = True) -> Price:
    """The price of plan `code` on day `on`: by default only plans a member can buy
    (sign-up, plan change, renewal); the sponsored plan comes only through an employer."""
    price = (
        Price.objects.active_on(on).filter(code=code, sold_individually=sold_individually).first()
    )
    if price is None:
        raise NotFoundError(
            f"No price {code!r} is on sale on {on}.", details={"field": "price_code"}
        )
    return price


@dataclass(frozen=True)
class RenewalPrice:
    price: Price  # what the next period will cost
    planned: Price  # what it would cost with Prime verified (the same unless Prime lapsed)

    @property
    def prime_lapsed(self) -> bool:
        return self.price.pk != self.planned.pk


def membership_renewal_price_get(
    *,
    membership: Membership,
    start: dt.date,
    prices: dict[tuple[str, dt.date], Price] | None = None,
) -> RenewalPrice:
    """The price of the period that starts on `start`: the scheduled plan change or the same
    plan, at its price on that day; a Prime plan falls back to the standard price when the
    member's latest Prime check does not cover that day. `prices`, if given, remembers the
    prices looked up (a bill run chunk passes one, so it reads each price once)."""

    def price_on(code: str) -> Price:
        if prices is None:
            return price_active_get(code=code, on=start)
        if (code, start) not in prices:
            prices[code, start] = price_active_get(code=code, on=start)
        return prices[code, start]

    code = (membership.next_price or membership.price).code
    planned = price_on(code)
    if not planned.requires_prime:
        return RenewalPrice(planned, planned)
    latest = membership.member.prime_checks.order_by("-checked_at", "-id").first()
    still_prime = (
        latest is not None
        and latest.status == PrimeStatus.VERIFIED
        and latest.verified_until is not None
        and latest.verified_until >= start
    )
    if still_prime:
        return RenewalPrice(planned, planned)
    return RenewalPrice(price_on(STANDARD_PRICE_CODE), planned)


def member_market_on(*, member: Member, on: dt.date) -> Market | None:
    """The member's home market on day `on` (the latest change effective by then)."""
    row = (
        MemberMarket.objects.filter(member=member, effective_from__lte=on)
        .select_related("market")
        .order_by("-effective_from")
        .first()
    )
    return row.market if row else None


def membership_current_for_user(*, user_id: int) -> Membership:
    """The caller's live membership (pending, active or past due), else their latest one."""
    memberships = Membership.objects.filter(member__user_id=user_id).select_related("price")
    current = memberships.filter(status__in=LIVE_STATUSES).first()
    if current is None:
        current = memberships.order_by("-created_at", "-id").first()
    if current is None:
        raise NotFoundError("You have no membership.")
    return current


def invoices_for_user(*, user_id: int) -> QuerySet[Invoice]:
    """The caller's own invoices, newest first."""
    return Invoice.objects.filter(customer__user_id=user_id).order_by("-created_at", "-id")


def memberships_renewal_overdue(*, today: dt.date) -> QuerySet[Membership]:
    """Active individual memberships whose period ended more than STUCK_RENEWAL_GRACE_DAYS
    days before `today` (so that even the bill run of the day before should have renewed
    them, or ended them when set to cancel) with no invoice for the next period. Sponsored
    memberships are moved on by the employer invoicing run instead."""
    next_fee = InvoiceLine.objects.filter(
        membership=OuterRef("pk"),
        kind=InvoiceLineKind.MEMBERSHIP_FEE,
        period_start=ExpressionWrapper(
            OuterRef("current_period_end") + dt.timedelta(days=1), output_field=DateField()
        ),
    )
    return (
        Membership.objects.filter(
            status=MembershipStatus.ACTIVE,
            sponsor__isnull=True,
            current_period_end__lt=today - dt.timedelta(days=settings.STUCK_RENEWAL_GRACE_DAYS),
        )
        .filter(~Exists(next_fee))
        .order_by("id")
    )
