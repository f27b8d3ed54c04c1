from __future__ import annotations

import datetime as dt

import pytest

from billing.models import InvoiceLine, InvoiceStatus, StripeCommand
from billing.stripe_outbox import stripe_outbox_push
from config import clock
from memberships.models import Membership, MembershipEvent
from memberships.renewals import memberships_renew_due
from tests.api_assertions import assert_error
from tests.memberships.factories import JAN_1, active_membership

URL = "/api/v1/me/membership/change-plan/"


@pytest.mark.django_db
def test_monthly_to_annual_starts_today_with_credit_for_the_unused_days(client_for):
    membership = active_membership(code="prime_monthly")  # January 2027, $9 paid

    with clock.as_of(dt.date(2027, 1, 11)):
        response = client_for(membership.member.user).post(URL, {"price_code": "prime_annual"})

    assert response.status_code == 200, response.content
    body = response.json()
    # 21 unused days of 31 (the 11th through the 31st): floor(900 * 21 / 31) = 609.
    assert (body["immediate"], body["credit_cents"]) == (True, 609)
    assert body["membership"]["price_code"] == "prime_annual"
    assert (
        body["membership"]["current_period_start"],
        body["membership"]["current_period_end"],
    ) == (
        "2027-01-11",
        "2028-01-10",
    )
    lines = InvoiceLine.objects.filter(invoice_id=body["invoice_id"]).order_by("amount_cents")
    assert [(line.kind, line.amount_cents) for line in lines] == [
        ("adjustment", -609),
        ("plan_change_fee", 9900),
    ]
    assert lines[0].invoice.total_cents == 9900 - 609
    assert (
        MembershipEvent.objects.get(membership=membership, kind="plan_changed").data["credit_cents"]
        == 609
    )


@pytest.mark.django_db
def test_annual_to_monthly_waits_for_the_period_end_then_the_bill_run_applies_it(client_for):
    membership = active_membership(
        code="prime_annual", start=JAN_1, prime_until=dt.date(2030, 1, 1)
    )

    with clock.as_of(dt.date(2027, 6, 1)):
        response = client_for(membership.member.user).post(URL, {"price_code": "prime_monthly"})

    body = response.json()
    assert (body["immediate"], body["invoice_id"], body["next_price_code"]) == (
        False,
        None,
        "prime_monthly",
    )
    assert body["membership"]["price_code"] == "prime_annual"  # unchanged until the period ends
    assert not StripeCommand.objects.filter(kind="invoice_push").exists()

    memberships_renew_due(as_of=dt.date(2028, 1, 1))

    membership.refresh_from_db()
    assert (membership.price.code, membership.current_period_end) == (
        "prime_monthly",
        dt.date(2028, 1, 31),
    )


@pytest.mark.django_db
def test_a_prime_plan_needs_prime_for_the_day_it_starts(client_for):
    membership = active_membership(code="standard_annual")

    with clock.as_of(dt.date(2027, 3, 1)):
        response = client_for(membership.member.user).post(URL, {"price_code": "prime_annual"})

    assert_error(response, 400, "prime_not_verified")
    membership.refresh_from_db()
    assert membership.next_price is None


@pytest.mark.django_db
def test_the_same_plan_or_an_unknown_one_is_refused(client_for):
    membership = active_membership(code="prime_monthly")
    client = client_for(membership.member.user)

    with clock.as_of(dt.date(2027, 1, 11)):
        assert_error(client.post(URL, {"price_code": "prime_monthly"}), 409, "conflict")
        assert_error(client.post(URL, {"price_code": "platinum"}), 400, "invalid")


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_invoice_with_its_credit_is_charged_in_stripe(client_for, stripe_emulator):
    membership = active_membership(code="prime_monthly")

    with clock.as_of(dt.date(2027, 1, 11)):
        body = client_for(membership.member.user).post(URL, {"price_code": "prime_annual"}).json()
    stripe_outbox_push(run_seconds=30)

    invoice = InvoiceLine.objects.filter(invoice_id=body["invoice_id"]).first().invoice
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid_cents) == (InvoiceStatus.PAID, 9291)
    assert Membership.objects.get(pk=membership.pk).status == "active"
