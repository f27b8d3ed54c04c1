"""Immediate cancellation: ends today and refunds the unused days, through the Stripe rail."""

from __future__ import annotations

import datetime as dt

import pytest

from billing.models import Payment, PaymentStatus, Refund, RefundStatus
from billing.proration import unused_amount_cents
from billing.services import refund_create
from billing.stripe_outbox import stripe_outbox_push
from config import clock
from config.errors import ConflictError
from memberships.models import Membership, MembershipStatus
from tests.api_assertions import assert_error

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def annual_member(api_client, stripe_emulator):
    signup = api_client.post(
        "/api/v1/signup/",
        {
            "email": "ada@example.test",
            "password": "a long enough password",
            "full_name": "Ada Lovelace",
            "date_of_birth": "1985-12-10",
            "market": "puget-sound",
            "price_code": "standard_annual",
            "payment_method_id": "pm_card_visa",
        },
    )
    assert signup.status_code == 201, signup.content
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {signup.json()['token']}")
    return api_client, Membership.objects.get()


def test_cancel_now_refunds_the_unused_days_in_stripe(annual_member):
    client, membership = annual_member
    halfway = membership.current_period_start + dt.timedelta(days=182)
    expected = unused_amount_cents(
        amount_cents=19900,
        start=membership.current_period_start,
        end=membership.current_period_end,
        effective=halfway,
    )

    with clock.as_of(halfway):
        response = client.post("/api/v1/me/membership/cancel/", {"when": "now"})
    stripe_outbox_push(run_seconds=30)

    assert response.status_code == 200, response.content
    assert response.json()["refund_cents"] == expected
    assert 0 < expected < 19900
    assert response.json()["membership"]["status"] == "canceled"
    refund = Refund.objects.get()
    assert (refund.amount_cents, refund.status) == (expected, RefundStatus.SUCCEEDED)
    assert refund.stripe_refund_id.startswith("re_")


def test_cancel_now_on_the_last_day_refunds_one_day_and_twice_is_refused(annual_member):
    client, membership = annual_member

    with clock.as_of(membership.current_period_end):
        first = client.post("/api/v1/me/membership/cancel/", {"when": "now"})
        again = client.post("/api/v1/me/membership/cancel/", {"when": "now"})

    assert first.json()["refund_cents"] == 19900 * 1 // 365
    assert_error(again, 409, "conflict")
    assert Refund.objects.count() == 1
    assert Membership.objects.get().status == MembershipStatus.CANCELED


def test_refunds_never_exceed_what_the_payment_took(annual_member):
    payment = Payment.objects.get(status=PaymentStatus.SUCCEEDED)
    refund_create(payment=payment, amount_cents=19000, reason="goodwill")

    with pytest.raises(ConflictError, match="between 1 and 900"):
        refund_create(payment=payment, amount_cents=901, reason="too much")
    assert Refund.objects.count() == 1
