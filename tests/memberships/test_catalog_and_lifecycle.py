from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError

from config.errors import NotFoundError
from memberships.lifecycle import ALLOWED_TRANSITIONS
from memberships.models import (
    Market,
    Member,
    Membership,
    MembershipEvent,
    MembershipStatus,
    Price,
    PrimeStatus,
)
from memberships.prime import SandboxPrimeVerifier, prime_verifier
from memberships.selectors import price_active_get
from memberships.services import InvalidTransitionError, membership_transition
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 23)


def test_the_launch_catalog_is_seeded_as_data():
    prices = {p.code: p for p in Price.objects.active_on(TODAY)}
    assert (prices["prime_monthly"].amount_cents, prices["prime_monthly"].interval) == (
        900,
        "month",
    )
    assert (prices["prime_annual"].amount_cents, prices["prime_annual"].interval) == (9900, "year")
    assert (prices["standard_annual"].amount_cents, prices["standard_annual"].requires_prime) == (
        19900,
        False,
    )
    assert prices["prime_annual"].requires_prime


def test_markets_are_tied_to_their_health_systems():
    ohio = Market.objects.get(slug="northeast-ohio")
    assert ohio.partner is not None
    assert ohio.partner.name == "Cleveland Clinic"
    assert {c.name for c in ohio.clinics.all()} == {"Avon", "Shaker Heights"}


def test_a_price_change_is_a_new_window_and_history_keeps_the_old_price():
    old = Price.objects.get(code="prime_monthly")
    Price.objects.filter(pk=old.pk).update(active_until=dt.date(2027, 3, 1))
    Price.objects.create(
        code="prime_monthly",
        name="Prime monthly",
        amount_cents=1000,
        interval="month",
        requires_prime=True,
        active_from=dt.date(2027, 3, 1),
    )

    assert price_active_get(code="prime_monthly", on=dt.date(2027, 2, 28)).amount_cents == 900
    assert price_active_get(code="prime_monthly", on=dt.date(2027, 3, 1)).amount_cents == 1000
    with pytest.raises(NotFoundError):
        price_active_get(code="no_such_plan", on=TODAY)


def test_the_database_refuses_overlapping_windows_for_one_code():
    with pytest.raises(IntegrityError):
        Price.objects.create(
            code="prime_monthly",
            name="Overlap",
            amount_cents=800,
            interval="month",
            requires_prime=True,
            active_from=dt.date(2026, 6, 1),
        )


@pytest.mark.parametrize(
    ("token", "status", "until"),
    [
        ("prime_valid", PrimeStatus.VERIFIED, dt.date(2027, 11, 23)),
        ("prime_valid_abc", PrimeStatus.VERIFIED, dt.date(2027, 11, 23)),
        ("prime_valid_until_2026-12-31", PrimeStatus.VERIFIED, dt.date(2026, 12, 31)),
        ("prime_valid_until_2026-11-22", PrimeStatus.EXPIRED, dt.date(2026, 11, 22)),
        ("prime_valid_until_not-a-date", PrimeStatus.INVALID, None),
        ("prime_expired", PrimeStatus.EXPIRED, None),
        ("PRIME_VALID", PrimeStatus.INVALID, None),
        ("", PrimeStatus.INVALID, None),
    ],
)
def test_the_sandbox_prime_tokens_behave_as_documented(token, status, until):
    check = SandboxPrimeVerifier().verify(token=token, on=TODAY)
    assert (check.status, check.verified_until) == (status, until)
    assert check.is_verified == (status == PrimeStatus.VERIFIED)


def test_the_prime_provider_comes_from_settings():
    assert isinstance(prime_verifier(), SandboxPrimeVerifier)


@pytest.fixture
def membership() -> Membership:
    member = Member.objects.create(user=UserFactory.create(), date_of_birth=dt.date(1990, 5, 17))
    return Membership.objects.create(
        member=member,
        price=Price.objects.get(code="prime_monthly"),
        current_period_start=dt.date(2026, 11, 1),
        current_period_end=dt.date(2026, 11, 30),
    )


def test_a_transition_changes_the_status_and_writes_the_event(membership):
    actor = UserFactory.create()

    membership_transition(
        membership=membership,
        to_status=MembershipStatus.ACTIVE,
        kind="activated",
        actor=actor,
        reason="paid",
    )

    membership.refresh_from_db()
    assert membership.status == MembershipStatus.ACTIVE
    event = MembershipEvent.objects.get(membership=membership)
    assert (event.kind, event.from_status, event.to_status, event.actor, event.reason) == (
        "activated",
        "pending",
        "active",
        actor,
        "paid",
    )


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (start, target)
        for start in MembershipStatus
        for target in MembershipStatus
        if target not in ALLOWED_TRANSITIONS[start]
    ],
)
def test_every_transition_outside_the_table_is_refused_and_writes_nothing(
    membership, start, target
):
    Membership.objects.filter(pk=membership.pk).update(status=start)

    with pytest.raises(InvalidTransitionError) as refused:
        membership_transition(membership=membership, to_status=target, kind="test")

    assert refused.value.http_status == 409
    membership.refresh_from_db()
    assert membership.status == start
    assert not MembershipEvent.objects.exists()


def test_ending_a_membership_stamps_when(membership):
    membership_transition(
        membership=membership, to_status=MembershipStatus.CANCELED, kind="canceled"
    )
    membership.refresh_from_db()
    assert membership.ended_at is not None


def test_a_member_has_at_most_one_live_membership(membership):
    with pytest.raises(IntegrityError):
        Membership.objects.create(
            member=membership.member,
            price=Price.objects.get(code="prime_annual"),
            current_period_start=dt.date(2026, 11, 1),
            current_period_end=dt.date(2027, 10, 31),
        )
