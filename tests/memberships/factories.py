"""Memberships for tests, made directly (the sign-up API is tested on its own)."""

from __future__ import annotations

import datetime as dt

from accounts.models import Role
from accounts.services import role_grant
from billing.services import billing_customer_create
from memberships.models import (
    Member,
    Membership,
    MembershipStatus,
    Price,
    PrimeStatus,
    PrimeVerification,
)
from memberships.periods import period_end
from tests.factories import UserFactory

JAN_1 = dt.date(2027, 1, 1)


def active_membership(
    *, code: str = "prime_monthly", start: dt.date = JAN_1, prime_until: dt.date | None = None
) -> Membership:
    user = UserFactory.create()
    role_grant(user=user, role=Role.MEMBER)
    member = Member.objects.create(user=user, date_of_birth=dt.date(1990, 1, 1))
    billing_customer_create(
        email=user.email, name=user.full_name, user=user, payment_method_id="pm_card_visa"
    )
    price = Price.objects.get(code=code)
    if price.requires_prime:
        PrimeVerification.objects.create(
            member=member,
            provider="sandbox",
            status=PrimeStatus.VERIFIED,
            verified_until=prime_until or dt.date(2030, 1, 1),
            token_fingerprint="0" * 64,
        )
    return Membership.objects.create(
        member=member,
        price=price,
        status=MembershipStatus.ACTIVE,
        current_period_start=start,
        current_period_end=period_end(start, price.interval),
    )
