from __future__ import annotations

import datetime as dt

import pytest

from accounts.models import Role
from billing.models import StripeCommand
from config import clock
from memberships.models import Market, MembershipEvent
from memberships.renewals import memberships_renew_due
from memberships.selectors import member_market_on
from tests.api_assertions import assert_error
from tests.factories import EmployerFactory, user_with_role
from tests.memberships.factories import JAN_1, active_membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_members():
    return active_membership(), active_membership(code="standard_annual")


def test_a_member_sees_their_own_membership(client_for, two_members):
    mine, _ = two_members

    body = client_for(mine.member.user).get("/api/v1/me/membership/").json()

    assert body["id"] == mine.id
    assert (body["status"], body["price_code"], body["cancel_at_period_end"]) == (
        "active",
        "prime_monthly",
        False,
    )


def test_a_member_without_a_membership_gets_a_404(client_for):
    lonely = user_with_role(Role.MEMBER)

    assert_error(client_for(lonely).get("/api/v1/me/membership/"), 404, "not_found")


def test_cancel_at_period_end_then_resume(client_for, two_members):
    mine, theirs = two_members
    client = client_for(mine.member.user)

    canceled = client.post("/api/v1/me/membership/cancel/")
    resumed = client.post("/api/v1/me/membership/resume/")

    assert canceled.json()["membership"]["cancel_at_period_end"] is True
    assert canceled.json()["refund_cents"] == 0
    assert resumed.json()["cancel_at_period_end"] is False
    kinds = list(MembershipEvent.objects.filter(membership=mine).values_list("kind", flat=True))
    assert kinds == ["cancellation_scheduled", "cancellation_undone"]
    theirs.refresh_from_db()
    assert theirs.cancel_at_period_end is False  # nobody else's membership was touched


def test_a_canceled_membership_cannot_be_canceled_again(client_for, two_members):
    mine, _ = two_members
    client = client_for(mine.member.user)
    client.post("/api/v1/me/membership/cancel/")
    memberships_renew_due(as_of=mine.current_period_end.replace(day=1).replace(month=2))

    assert_error(client.post("/api/v1/me/membership/cancel/"), 409, "conflict")


def test_a_member_lists_only_their_own_invoices(client_for, two_members):
    mine, theirs = two_members
    memberships_renew_due(as_of=mine.current_period_end.replace(year=2029))

    listed = client_for(mine.member.user).get("/api/v1/me/invoices/").json()

    assert listed["count"] == 1
    [invoice] = listed["results"]
    assert invoice["total_cents"] == 900
    assert set(invoice) == {
        "id",
        "number",
        "status",
        "total_cents",
        "amount_paid_cents",
        "currency",
        "created_at",
        "hosted_invoice_url",
    }
    their_invoices = client_for(theirs.member.user).get("/api/v1/me/invoices/").json()
    assert [row["total_cents"] for row in their_invoices["results"]] == [19900]


def test_replacing_the_card_queues_it_for_stripe(client_for, two_members):
    mine, _ = two_members

    response = client_for(mine.member.user).post(
        "/api/v1/me/payment-method/", {"payment_method_id": "pm_card_mastercard"}
    )

    assert response.status_code == 202
    command = StripeCommand.objects.filter(kind="customer_sync").order_by("-id").first()
    assert command is not None
    assert command.payload == {"payment_method_id": "pm_card_mastercard"}
    assert command.customer.user == mine.member.user


def test_a_card_number_is_refused(client_for, two_members):
    mine, _ = two_members

    response = client_for(mine.member.user).post(
        "/api/v1/me/payment-method/", {"payment_method_id": "4242424242424242"}
    )

    assert_error(response, 400, "invalid")


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/me/membership/",
        "/api/v1/me/invoices/",
    ],
)
def test_only_members_may_use_self_service(api_client, client_for, url):
    admin = user_with_role(Role.EMPLOYER_ADMIN, employer=EmployerFactory())

    assert_error(client_for(admin).get(url), 403, "permission_denied")
    assert_error(api_client.get(url), 401, "not_authenticated")


def test_a_member_moves_home_market_from_a_date_and_history_stays(client_for, two_members):
    mine, _ = two_members
    member = mine.member
    member.markets.create(market=Market.objects.get(slug="northeast-ohio"), effective_from=JAN_1)
    client = client_for(member.user)

    with clock.as_of(dt.date(2027, 3, 1)):
        moved = client.post(
            "/api/v1/me/market/", {"market": "connecticut", "effective_from": "2027-04-01"}
        )
        past = client.post(
            "/api/v1/me/market/", {"market": "connecticut", "effective_from": "2027-02-01"}
        )
        nowhere = client.post("/api/v1/me/market/", {"market": "atlantis"})

    assert moved.json() == {"market": "connecticut", "effective_from": "2027-04-01"}
    assert_error(past, 400, "invalid")
    assert_error(nowhere, 400, "invalid")
    assert member_market_on(member=member, on=dt.date(2027, 3, 31)).slug == "northeast-ohio"
    assert member_market_on(member=member, on=dt.date(2027, 4, 1)).slug == "connecticut"
