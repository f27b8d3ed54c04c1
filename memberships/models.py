"""The membership catalog (prices), markets and clinics, members, and memberships with their
event history. Amounts are integer cents; prices are data with active windows, never constants."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar, Self

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.db import models
from django.db.models import Func, Q

from config import clock


class BillingInterval(models.TextChoices):
    MONTH = "month"
    YEAR = "year"


class DateRange(Func):
    """PostgreSQL daterange(start, end, '[)'): the window a price is active in."""

    function = "DATERANGE"
    output_field = models.DateField()  # only used inside the exclusion constraint


class PriceQuerySet(models.QuerySet["Price"]):
    def active_on(self, day: dt.date) -> Self:
        return self.filter(
            Q(active_until__isnull=True) | Q(active_until__gt=day), active_from__lte=day
        )


class Price(models.Model):
    """One price of one plan code for a window of dates [active_from, active_until). A new price
    for a code is a new row from a later date; old invoices keep pointing at the old row. The
    database refuses two windows of one code that overlap."""

    code = models.CharField(max_length=64)  # e.g. prime_monthly
    name = models.CharField(max_length=200)
    amount_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3, default="usd")
    interval = models.CharField(max_length=8, choices=BillingInterval.choices)
    requires_prime = models.BooleanField(default=False)
    # False for the employer-sponsored plan: only enrollment through an employer gives it.
    sold_individually = models.BooleanField(default=True)
    active_from = models.DateField()
    active_until = models.DateField(null=True, blank=True)  # exclusive; open-ended when null

    objects: ClassVar[PriceQuerySet] = PriceQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(
                name="price_amount_not_negative", condition=Q(amount_cents__gte=0)
            ),
            models.CheckConstraint(
                name="price_window_ordered",
                condition=Q(active_until__isnull=True)
                | Q(active_until__gt=models.F("active_from")),
            ),
            ExclusionConstraint(
                name="price_windows_of_a_code_do_not_overlap",
                expressions=[
                    ("code", RangeOperators.EQUAL),
                    (
                        DateRange("active_from", "active_until", models.Value("[)")),
                        RangeOperators.OVERLAPS,
                    ),
                ],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.amount_cents / 100:.2f} {self.currency}/{self.interval}"


class Market(models.Model):
    """A region the operator serves (e.g. Northeast Ohio), optionally shared with a partner."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=64, unique=True)
    partner = models.ForeignKey(
        "partners.Partner", null=True, blank=True, on_delete=models.PROTECT, related_name="markets"
    )

    def __str__(self) -> str:
        return self.name


class Clinic(models.Model):
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="clinics")
    name = models.CharField(max_length=200)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["market", "name"], name="clinic_unique_in_market")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.market})"


class Member(models.Model):
    """The member side of a user: what billing needs beyond the login (kept to the minimum)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="member"
    )
    date_of_birth = models.DateField()
    created_at = models.DateTimeField(default=clock.now)

    def __str__(self) -> str:
        return f"member #{self.pk}"


class MemberMarket(models.Model):
    """A member's home market from a date on; the latest row on or before a day applies."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="markets")
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="+")
    effective_from = models.DateField()
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["member", "effective_from"], name="member_market_one_per_day"
            )
        ]

    def __str__(self) -> str:
        return f"member #{self.member_id} in market #{self.market_id} from {self.effective_from}"


class PrimeStatus(models.TextChoices):
    VERIFIED = "verified"
    EXPIRED = "expired"
    INVALID = "invalid"


class PrimeVerification(models.Model):
    """One Prime check of a member (at sign-up, at each renewal). The token itself is never
    stored, only a SHA-256 fingerprint of it."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="prime_checks")
    provider = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=PrimeStatus.choices)
    verified_until = models.DateField(null=True, blank=True)
    token_fingerprint = models.CharField(max_length=64)
    checked_at = models.DateTimeField(default=clock.now)

    def __str__(self) -> str:
        return f"prime {self.status} until {self.verified_until}"


class MembershipStatus(models.TextChoices):
    PENDING = "pending"  # signed up, first payment not through yet
    ACTIVE = "active"
    PAST_DUE = "past_due"  # a renewal charge failed; dunning retries
    CANCELED = "canceled"
    EXPIRED = "expired"  # never activated (abandoned sign-up) or ran out


LIVE_STATUSES = (MembershipStatus.PENDING, MembershipStatus.ACTIVE, MembershipStatus.PAST_DUE)


class Membership(models.Model):
    """A member's plan. The status changes only through `membership_transition`
    (memberships/services.py), which follows the table in memberships/lifecycle.py."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="memberships")
    price = models.ForeignKey(Price, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        max_length=16, choices=MembershipStatus.choices, default=MembershipStatus.PENDING
    )
    current_period_start = models.DateField()
    current_period_end = models.DateField()  # inclusive
    cancel_at_period_end = models.BooleanField(default=False)
    # A plan change that takes effect when the current period ends (annual → monthly).
    next_price = models.ForeignKey(
        Price, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The employer paying for it (see employers.Enrollment); None for an individual membership.
    sponsor = models.ForeignKey(
        "employers.Employer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sponsored_memberships",
    )
    created_at = models.DateTimeField(default=clock.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["member"],
                condition=Q(status__in=["pending", "active", "past_due"]),
                name="membership_one_live_per_member",
            ),
            models.CheckConstraint(
                name="membership_period_ordered",
                condition=Q(current_period_end__gte=models.F("current_period_start")),
            ),
        ]
        indexes: ClassVar = [
            models.Index(
                fields=["current_period_end"],
                condition=Q(status__in=["active", "past_due"]),
                name="membership_due_for_renewal",
            )
        ]

    def __str__(self) -> str:
        return f"membership #{self.pk} ({self.status})"


class MembershipEvent(models.Model):
    """Every change of a membership: what, from which status to which, who and why."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=64)  # e.g. activated, renewal_failed, prime_lapsed
    from_status = models.CharField(max_length=16, choices=MembershipStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=MembershipStatus.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["membership", "created_at"])]

    def __str__(self) -> str:
        return f"{self.kind}: {self.from_status or '-'} → {self.to_status}"
