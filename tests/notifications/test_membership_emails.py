"""The emails members get, driven through the real services and the Stripe rail (emulator over
HTTP): sign-up receipt, upcoming renewal with its price, Prime lapse, each failed charge of
dunning, recovery, and both cancellations; each one once, with nothing personal beyond the
address it goes to."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core import mail

from billing.models import BillingCustomer
from billing.services import billing_customer_payment_method_set
from billing.stripe_outbox import stripe_outbox_push
from config import clock
from memberships.dunning import DUNNING_RETRY_DAYS, memberships_dunning_run
from memberships.models import Membership
from memberships.notices import membership_renewal_reminders_queue
from memberships.renewals import memberships_renew_due
from memberships.services import membership_cancel_at_period_end
from notifications.models import EmailNotification
from tests.memberships.factories import active_membership

pytestmark = pytest.mark.django_db(transaction=True)

SIGNUP = {
    "email": "grace@example.test",
    "password": "a long enough password",
    "full_name": "Grace Hopper",
    "date_of_birth": "1976-12-09",
    "market": "connecticut",
    "price_code": "prime_monthly",
    "prime_token": "prime_valid",
    "payment_method_id": "pm_card_visa",
}


def subjects() -> list[str]:
    return [str(message.subject) for message in mail.outbox]


def day(value: dt.date) -> str:
    return f"{value:%B} {value.day}, {value.year}"


@pytest.fixture(autouse=True)
def _every_email_is_complete_and_impersonal():
    """After each test: no email lacks a value (an empty variable leaves a double space) or
    carries personal data beyond the address it goes to."""
    yield
    for message in mail.outbox:
        text = f"{message.subject}\n{message.body}"
        assert "  " not in text, text
        for secret in ("1976-12-09", "a long enough password", "Grace", "Hopper", "pm_card"):
            assert secret not in text


@pytest.fixture
def member(api_client, stripe_emulator) -> tuple[Any, Membership]:
    response = api_client.post("/api/v1/signup/", SIGNUP)
    assert response.status_code == 201, response.content
    stripe_outbox_push(run_seconds=30)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['token']}")
    return api_client, Membership.objects.get()


def test_signing_up_sends_one_receipt_with_the_amount_and_period(member):
    _, membership = member
    stripe_outbox_push(run_seconds=30)  # nothing left to push; no second receipt either

    assert subjects() == ["Welcome to Primary Care Membership: your membership receipt"]
    receipt = mail.outbox[0]
    assert receipt.to == ["grace@example.test"]
    assert "Plan: Prime membership, monthly\nAmount paid: $9.00" in receipt.body
    assert (
        f"Membership period: {day(membership.current_period_start)} to "
        f"{day(membership.current_period_end)}" in receipt.body
    )


def test_a_declined_signup_sends_no_receipt(api_client, stripe_emulator):
    response = api_client.post(
        "/api/v1/signup/", SIGNUP | {"payment_method_id": "pm_card_chargeDeclined"}
    )

    assert response.status_code == 402
    assert mail.outbox == []


def test_dunning_emails_each_failed_charge_then_the_cancellation(member):
    _, membership = member
    mail.outbox.clear()
    billing_customer_payment_method_set(
        customer=BillingCustomer.objects.get(), payment_method_id="pm_card_chargeDeclined"
    )
    memberships_renew_due(as_of=membership.current_period_end + dt.timedelta(days=1))
    stripe_outbox_push(run_seconds=30)
    failed_on = clock.today()

    first = mail.outbox[-1]
    assert first.subject == "Action needed: your Primary Care Membership payment did not go through"
    assert "We could not charge your card $9.00" in first.body
    assert "We will try again on" in first.body
    assert f"We will try again on {day(failed_on + dt.timedelta(days=3))}." in first.body

    for attempt, retry_day in enumerate(DUNNING_RETRY_DAYS, start=2):
        memberships_dunning_run(as_of=failed_on + dt.timedelta(days=retry_day))
        stripe_outbox_push(run_seconds=30)
        latest = mail.outbox[-1].body
        if attempt <= len(DUNNING_RETRY_DAYS):
            next_day = failed_on + dt.timedelta(days=DUNNING_RETRY_DAYS[attempt - 1])
            assert f"We will try again on {day(next_day)}." in latest
        else:
            assert "This was our last attempt." in latest
    memberships_dunning_run(as_of=failed_on + dt.timedelta(days=DUNNING_RETRY_DAYS[-1]))
    memberships_dunning_run(as_of=failed_on + dt.timedelta(days=DUNNING_RETRY_DAYS[-1] + 1))

    assert subjects() == [
        "Action needed: your Primary Care Membership payment did not go through"
    ] * (1 + len(DUNNING_RETRY_DAYS)) + ["Your Primary Care Membership membership has ended"]
    assert "We could not collect $9.00" in mail.outbox[-1].body


def test_a_new_card_after_a_decline_sends_payment_received(member):
    client, membership = member
    billing_customer_payment_method_set(
        customer=BillingCustomer.objects.get(), payment_method_id="pm_card_chargeDeclined"
    )
    memberships_renew_due(as_of=membership.current_period_end + dt.timedelta(days=1))
    stripe_outbox_push(run_seconds=30)

    response = client.post("/api/v1/me/payment-method/", {"payment_method_id": "pm_card_visa"})
    stripe_outbox_push(run_seconds=30)

    assert response.status_code == 202
    assert subjects()[-1] == (
        "Payment received: your Primary Care Membership membership is active again"
    )
    assert "We received your payment of $9.00." in mail.outbox[-1].body


def test_cancelling_at_period_end_confirms_then_says_when_it_ended(member):
    client, membership = member
    mail.outbox.clear()

    assert client.post("/api/v1/me/membership/cancel/", {}).status_code == 200
    memberships_renew_due(as_of=membership.current_period_end + dt.timedelta(days=1))

    assert subjects() == [
        f"Your Primary Care Membership membership will end on {day(membership.current_period_end)}",
        "Your Primary Care Membership membership has ended",
    ]
    assert f"ended on {day(membership.current_period_end)}, as you asked" in mail.outbox[1].body


def test_cancelling_now_says_how_much_is_refunded(member):
    client, membership = member
    mail.outbox.clear()

    with clock.as_of(membership.current_period_start + dt.timedelta(days=10)):
        response = client.post("/api/v1/me/membership/cancel/", {"when": "now"})

    assert response.status_code == 200, response.content
    refund = response.json()["refund_cents"]
    assert refund > 0
    assert subjects() == ["Your Primary Care Membership membership has ended"]
    assert f"We are refunding ${refund // 100}.{refund % 100:02d} for the unused" in (
        mail.outbox[0].body
    )


def test_the_renewal_reminder_comes_seven_days_ahead_once_with_the_price():
    membership = active_membership(code="prime_annual")
    renews_on = membership.current_period_end + dt.timedelta(days=1)

    assert membership_renewal_reminders_queue(as_of=renews_on - dt.timedelta(days=8)) == 0
    assert membership_renewal_reminders_queue(as_of=renews_on - dt.timedelta(days=7)) == 1
    assert membership_renewal_reminders_queue(as_of=renews_on - dt.timedelta(days=6)) == 0
    assert membership_renewal_reminders_queue(as_of=renews_on - dt.timedelta(days=1)) == 0

    assert subjects() == [f"Your Primary Care Membership membership renews on {day(renews_on)}"]
    assert "we will charge $99.00" in mail.outbox[0].body
    assert "Plan: Prime membership, annual" in mail.outbox[0].body
    assert "Prime verification" not in mail.outbox[0].body


def test_the_renewal_reminder_shows_the_standard_price_when_prime_will_have_lapsed():
    membership = active_membership(code="prime_annual", prime_until=dt.date(2027, 6, 30))
    renews_on = membership.current_period_end + dt.timedelta(days=1)

    membership_renewal_reminders_queue(as_of=renews_on - dt.timedelta(days=7))

    body = mail.outbox[0].body
    assert "we will charge $199.00" in body
    assert "Your Prime verification does not cover the new period" in body


def test_no_renewal_reminder_for_a_membership_that_will_not_renew():
    membership = active_membership(code="standard_annual")
    membership_cancel_at_period_end(membership=membership, actor=membership.member.user)
    mail.outbox.clear()

    queued = membership_renewal_reminders_queue(as_of=membership.current_period_end)

    assert queued == 0
    assert mail.outbox == []


def test_a_prime_lapse_at_renewal_sends_a_notice_with_the_standard_price():
    membership = active_membership(code="prime_annual", prime_until=dt.date(2027, 6, 30))

    memberships_renew_due(as_of=membership.current_period_end + dt.timedelta(days=1))
    memberships_renew_due(as_of=membership.current_period_end + dt.timedelta(days=1))

    assert subjects() == ["Your Primary Care Membership membership renewed at the standard price"]
    body = mail.outbox[0].body
    assert "at the standard price, $199.00, instead of the Prime price" in body
    assert "Plan: Membership, annual" in body
    assert EmailNotification.objects.count() == 1
