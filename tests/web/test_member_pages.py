"""The member's own page: membership, invoices, cancel at period end with a confirmation, and
resume, through the same services as the API."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Role
from billing.models import BillingCustomer, CollectionMethod, Invoice
from memberships.models import Membership, MembershipEvent
from tests.factories import TEST_PASSWORD, PartnerFactory, user_with_role
from tests.memberships.factories import active_membership
from tests.web.conftest import screenshot

pytestmark = pytest.mark.django_db


def member_client(membership: Membership) -> Client:
    client = Client()
    client.force_login(membership.member.user)
    return client


def test_the_page_shows_the_plan_period_and_invoices():
    membership = active_membership(code="prime_annual")
    customer = BillingCustomer.objects.get(user=membership.member.user)
    Invoice.objects.create(
        customer=customer,
        collection_method=CollectionMethod.CHARGE_AUTOMATICALLY,
        total_cents=9900,
        status="paid",
        number="INV-0042",
    )

    page = member_client(membership).get("/account/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "$99.00 per year" in text
    assert "Jan 1, 2027 \u2013 Dec 31, 2027" in text
    assert "INV-0042" in text
    assert "Cancel at the end of this period" in text


def test_cancelling_needs_the_confirmation_and_resuming_undoes_it():
    membership = active_membership()
    client = member_client(membership)

    unconfirmed = client.post("/account/cancel/", {"action": "cancel"}, follow=True)
    membership.refresh_from_db()
    assert not membership.cancel_at_period_end
    assert "confirm the cancellation first" in unconfirmed.content.decode()

    confirm_page = client.get("/account/cancel/")
    assert "Yes, cancel at the end of this period" in confirm_page.content.decode()
    done = client.post("/account/cancel/", {"action": "cancel", "confirm": "yes"}, follow=True)
    membership.refresh_from_db()
    assert membership.cancel_at_period_end
    assert "will end after January 31, 2027" in done.content.decode()
    assert MembershipEvent.objects.filter(kind="cancellation_scheduled").count() == 1

    client.post("/account/cancel/", {"action": "resume"})
    membership.refresh_from_db()
    assert not membership.cancel_at_period_end


@pytest.mark.parametrize("role", [Role.FINANCE_STAFF, Role.OPERATOR_ADMIN, Role.PARTNER_VIEWER])
def test_other_roles_are_refused_the_member_page(role):
    client = Client()
    partner = PartnerFactory.create() if role == Role.PARTNER_VIEWER else None
    client.force_login(user_with_role(role, partner=partner))
    response = client.get("/account/")
    assert response.status_code == 403
    assert "Not allowed" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_member_cancels_in_the_browser_with_the_keyboard(login):
    membership = active_membership()
    page = login(membership.member.user, TEST_PASSWORD)
    assert page.get_by_role("heading", name="My membership").is_visible()  # home → own page
    screenshot(page, "member-account")

    page.get_by_role("link", name="Cancel at the end of this period…").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.get_by_role("button", name="Yes, cancel at the end of this period").click()
    page.wait_for_load_state()

    assert page.get_by_text("will end after January 31, 2027").is_visible()
    membership.refresh_from_db()
    assert membership.cancel_at_period_end
