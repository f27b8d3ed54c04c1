"""A declined renewal, through the real Stripe rail (emulator over HTTP): past due, retries on
the schedule, then canceled, or recovered by a new card."""

from __future__ import annotations

import datetime as dt

import pytest

from billing.models import BillingCustomer, Invoice, InvoiceStatus, Payment, PaymentStatus
from billing.services import billing_customer_payment_method_set
from billing.stripe_outbox import stripe_outbox_push
from config import clock
from memberships.dunning import DUNNING_RETRY_DAYS, memberships_dunning_run
from memberships.models import Membership, MembershipEvent, MembershipStatus
from memberships.renewals import memberships_renew_due

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def past_due(api_client, stripe_emulator):
    """A member signed up with a good card, then switched to one that declines; the renewal
    charge is declined."""
    signup = api_client.post(
        "/api/v1/signup/",
        {
            "email": "grace@example.test",
            "password": "a long enough password",
            "full_name": "Grace Hopper",
            "date_of_birth": "1976-12-09",
            "market": "connecticut",
            "price_code": "prime_monthly",
            "prime_token": "prime_valid",
            "payment_method_id": "pm_card_visa",
        },
    )
    assert signup.status_code == 201, signup.content
    membership = Membership.objects.get()
    customer = BillingCustomer.objects.get()
    billing_customer_payment_method_set(
        customer=customer, payment_method_id="pm_card_chargeDeclined"
    )
    stripe_outbox_push(run_seconds=30)
    memberships_renew_due(as_of=membership.current_period_end + dt.timedelta(days=1))
    stripe_outbox_push(run_seconds=30)
    membership.refresh_from_db()
    return membership, signup.json()["token"]


def kinds(membership: Membership) -> list[str]:
    return list(
        MembershipEvent.objects.filter(membership=membership)
        .order_by("id")
        .values_list("kind", flat=True)
    )


def test_a_declined_renewal_makes_the_membership_past_due(past_due):
    membership, _ = past_due

    assert membership.status == MembershipStatus.PAST_DUE
    event = MembershipEvent.objects.get(membership=membership, kind="renewal_failed")
    assert event.data["decline_code"] == "generic_decline"


def test_retries_follow_the_schedule_then_the_membership_is_canceled(past_due):
    membership, _ = past_due
    failed_on = clock.today()
    renewal = Invoice.objects.order_by("-id").first()

    assert memberships_dunning_run(as_of=failed_on).retries_queued == 0  # not due yet
    for day in DUNNING_RETRY_DAYS:
        assert (
            memberships_dunning_run(as_of=failed_on + dt.timedelta(days=day - 1)).retries_queued
            == 0
        )
        assert memberships_dunning_run(as_of=failed_on + dt.timedelta(days=day)).retries_queued == 1
        assert memberships_dunning_run(as_of=failed_on + dt.timedelta(days=day)).retries_queued == 0
        stripe_outbox_push(run_seconds=30)

    report = memberships_dunning_run(as_of=failed_on + dt.timedelta(days=DUNNING_RETRY_DAYS[-1]))
    stripe_outbox_push(run_seconds=30)

    assert report.canceled == 1
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.CANCELED
    assert Payment.objects.filter(invoice=renewal, status=PaymentStatus.FAILED).count() == 1 + len(
        DUNNING_RETRY_DAYS
    )
    renewal.refresh_from_db()
    assert renewal.status == InvoiceStatus.UNCOLLECTIBLE
    assert kinds(membership)[-8:] == [
        "renewal_failed",
        "dunning_retry",
        "retry_failed",
        "dunning_retry",
        "retry_failed",
        "dunning_retry",
        "retry_failed",
        "dunning_exhausted",
    ]


def test_a_new_card_recovers_a_past_due_membership(past_due, api_client):
    membership, token = past_due
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    response = api_client.post("/api/v1/me/payment-method/", {"payment_method_id": "pm_card_visa"})
    stripe_outbox_push(run_seconds=30)

    assert response.status_code == 202
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.ACTIVE
    assert kinds(membership)[-1] == "recovered"
    renewal = Invoice.objects.order_by("-id").first()
    assert renewal.status == InvoiceStatus.PAID
    assert Payment.objects.filter(invoice=renewal, status=PaymentStatus.SUCCEEDED).count() == 1
