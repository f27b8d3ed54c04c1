"""Personal data in API responses is limited to what each role needs (the table is in
docs/privacy.md). The exact field sets of the sensitive responses are asserted, so a field added
to one of them fails here until it is reviewed; and a member's account data (login email, name,
date of birth, user id) is looked for, by value, in what partner viewers and employer admins
get."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import Role, User
from billing.services import billing_customer_create
from config import clock
from employers.models import ContributionKind, Employer, EmployerContract, RosterEntry
from ledger import chart
from ledger.journal import Dimensions, debit_credit, journal_entry_post
from ledger.models import RevenueShareAgreement
from ledger.statements import statement_generate
from memberships.models import Market, Member, Membership, MembershipStatus, Price
from tests.billing.factories import member_invoice
from tests.factories import (
    TEST_PASSWORD,
    EmployerFactory,
    PartnerFactory,
    UserFactory,
    user_with_role,
)

pytestmark = pytest.mark.django_db

OCTOBER = dt.date(2026, 10, 1)
MEMBER_EMAIL = "ada.private@personal.test"
MEMBER_NAME = "Ada Privatemember"
MEMBER_DOB = dt.date(1983, 4, 29)


def keys(body: dict[str, Any]) -> set[str]:
    return set(body)


def assert_absent(body: object, *values: str) -> None:
    text = json.dumps(body) if not isinstance(body, str | bytes) else str(body)
    for value in values:
        assert value not in text, f"{value!r} is in the response"


@pytest.fixture
def member_in_market() -> tuple[Membership, Market]:
    """A member (with a personal email, a name and a date of birth) whose membership revenue
    is recognized in a partner's market."""
    partner = PartnerFactory.create(name="Privacy Health")
    market = Market.objects.create(name="Privacy Market", slug="privacy-market", partner=partner)
    RevenueShareAgreement.objects.create(
        partner=partner, market=market, share_bps=2000, effective_from=dt.date(2026, 1, 1)
    )
    user = UserFactory.create(email=MEMBER_EMAIL, full_name=MEMBER_NAME)
    member = Member.objects.create(user=user, date_of_birth=MEMBER_DOB)
    membership = Membership.objects.create(
        member=member,
        price=Price.objects.get(code="standard_annual"),
        status=MembershipStatus.ACTIVE,
        current_period_start=dt.date(2026, 10, 1),
        current_period_end=dt.date(2027, 9, 30),
    )
    journal_entry_post(
        idempotency_key="test-privacy:recognized",
        kind="test",
        occurred_on=dt.date(2026, 10, 3),
        postings=debit_credit(
            debit=chart.account_get(chart.DEFERRED_REVENUE),
            credit=chart.account_get(chart.MEMBERSHIP_REVENUE),
            amount_cents=16_583,
            dimensions=Dimensions(
                partner_id=partner.pk, market_id=market.pk, membership_id=membership.pk
            ),
        ),
    )
    return membership, market


# --- partner viewers: figures, no people ----------------------------------------------------

STATEMENT_FIELDS = {
    "id",
    "partner_id",
    "partner_name",
    "period",
    "status",
    "currency",
    "net_cents",
    "share_cents",
    "amount_due_cents",
    "generated_at",
    "approved_at",
    "paid_at",
}
STATEMENT_DETAIL_FIELDS = STATEMENT_FIELDS | {
    "approved_by_id",
    "payout_reference",
    "lines",
    "totals",
}
STATEMENT_LINE_FIELDS = {
    "id",
    "kind",
    "market_id",
    "market_name",
    "adjusts_period",
    "recognized_cents",
    "refunds_cents",
    "net_cents",
    "share_cents",
    "recoupment_cents",
    "amount_cents",
    "active_members",
    "new_members",
    "churned_members",
}


def test_a_partner_viewers_statement_has_figures_and_counts_but_no_member_data(
    client_for: Callable[[User], APIClient], member_in_market: tuple[Membership, Market]
) -> None:
    _, market = member_in_market
    partner = market.partner
    assert partner is not None
    statement = statement_generate(partner=partner, period=OCTOBER)
    viewer = client_for(user_with_role(Role.PARTNER_VIEWER, partner=partner))

    listing = viewer.get("/api/v1/statements/")
    detail = viewer.get(f"/api/v1/statements/{statement.pk}/")
    csv = viewer.get(f"/api/v1/statements/{statement.pk}/export.csv")

    assert (listing.status_code, detail.status_code, csv.status_code) == (200, 200, 200)
    [row] = listing.json()["results"]
    assert keys(row) == STATEMENT_FIELDS
    body = detail.json()
    assert keys(body) == STATEMENT_DETAIL_FIELDS
    [line] = body["lines"]
    assert keys(line) == STATEMENT_LINE_FIELDS
    assert isinstance(line["active_members"], int)  # a count, not people
    for response in (listing.json(), body, csv.content.decode()):
        assert_absent(response, MEMBER_EMAIL, MEMBER_NAME, MEMBER_DOB.isoformat(), "membership")


# --- employer admins: their roster's work identity, not members' accounts --------------------

ROSTER_ENTRY_FIELDS = {
    "id",
    "external_id",
    "full_name",
    "work_email",
    "date_of_birth",  # the employer's own record, used to match an enrolling employee
    "eligible_from",
    "eligible_until",
    "status",
    "created_at",
    "updated_at",
}
ENROLLMENT_FIELDS = {
    "id",
    "entry_id",
    "external_id",
    "full_name",
    "work_email",
    "starts_on",
    "ends_on",
}
ROSTER_CHANGE_FIELDS = {
    "id",
    "entry",
    "kind",
    "actor",
    "actor_email",
    "roster_import",
    "changes",
    "created_at",
}


@pytest.fixture
def acme() -> Employer:
    employer = EmployerFactory.create(name="Acme Privacy")
    EmployerContract.objects.create(
        employer=employer,
        pepm_cents=2500,
        contribution_kind=ContributionKind.FULL,
        effective_from=dt.date(2026, 1, 1),
    )
    return employer


def test_an_employer_admin_sees_the_roster_and_enrollments_but_not_the_members_account(
    client_for: Callable[[User], APIClient], api_client: APIClient, acme: Employer
) -> None:
    RosterEntry.objects.create(
        employer=acme,
        external_id="E1",
        full_name="Ada Roster",
        work_email="ada@acme.test",
        date_of_birth=MEMBER_DOB,
        eligible_from=dt.date(2026, 1, 1),
    )
    with clock.as_of(dt.date(2026, 3, 10)):
        enrolled = api_client.post(
            "/api/v1/enroll/",
            {
                "employer_code": acme.code,
                "work_email": "ada@acme.test",
                "password": TEST_PASSWORD,
                "full_name": MEMBER_NAME,  # the name on the member's own account
                "date_of_birth": MEMBER_DOB.isoformat(),
                "market": "northeast-ohio",
            },
        )
        assert enrolled.status_code == 201, enrolled.content
        member_user_id = enrolled.json()["member"]["id"]
        admin = client_for(user_with_role(Role.EMPLOYER_ADMIN, employer=acme))
        roster = admin.get(f"/api/v1/employers/{acme.pk}/roster/")
        enrollments = admin.get(f"/api/v1/employers/{acme.pk}/enrollments/")
        history = admin.get(f"/api/v1/employers/{acme.pk}/roster/history/")

    assert (roster.status_code, enrollments.status_code, history.status_code) == (200, 200, 200)
    [entry] = roster.json()["results"]
    assert keys(entry) == ROSTER_ENTRY_FIELDS
    [enrollment] = enrollments.json()["results"]
    assert keys(enrollment) == ENROLLMENT_FIELDS
    assert enrollment["full_name"] == "Ada Roster"  # the roster's name, not the account's
    changes = history.json()["results"]
    assert all(keys(change) == ROSTER_CHANGE_FIELDS for change in changes)
    [enrolled_change] = [change for change in changes if change["kind"] == "enrolled"]
    # the employee acting on their own account: not the employer's to see
    assert (enrolled_change["actor"], enrolled_change["actor_email"]) == (None, None)
    for response in (roster, enrollments, history):
        assert_absent(response.json(), MEMBER_NAME, f'"actor": {member_user_id}')


# --- finance: what refunds and credits need ------------------------------------------------------

INVOICE_CUSTOMER_FIELDS = {"id", "email", "name", "user_id", "employer_id"}


def test_finance_sees_the_customer_contact_an_invoice_needs_and_no_card_details(
    client_for: Callable[[User], APIClient],
) -> None:
    user = UserFactory.create(email=MEMBER_EMAIL, full_name=MEMBER_NAME)
    Member.objects.create(user=user, date_of_birth=MEMBER_DOB)
    customer = billing_customer_create(
        email=user.email, name=user.full_name, user=user, payment_method_id="pm_card_visa"
    )
    invoice = member_invoice(customer, 9_900)
    finance = client_for(user_with_role(Role.FINANCE_STAFF))

    detail = finance.get(f"/api/v1/invoices/{invoice.pk}/")
    listing = finance.get("/api/v1/invoices/")

    assert (detail.status_code, listing.status_code) == (200, 200)
    assert keys(detail.json()["customer"]) == INVOICE_CUSTOMER_FIELDS
    assert detail.json()["customer"]["email"] == MEMBER_EMAIL  # who to tell about a refund
    for response in (detail, listing):
        assert_absent(response.json(), MEMBER_DOB.isoformat(), "pm_card", "payment_method")


# --- members: their own account -------------------------------------------------------------------


def test_a_member_sees_their_own_account_and_no_one_elses(
    client_for: Callable[[User], APIClient],
) -> None:
    user = user_with_role(Role.MEMBER, email=MEMBER_EMAIL, full_name=MEMBER_NAME)
    UserFactory.create(email="someone.else@personal.test")

    me = client_for(user).get("/api/v1/me/")

    assert keys(me.json()) == {"id", "email", "full_name", "roles"}
    assert_absent(me.json(), "someone.else")
