"""Audit history (DESIGN §7): who changed memberships, rosters, revenue-share agreements and
statements, when, and what. Each action writes exactly one history row naming its actor."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import Role, User
from config import clock
from employers.models import RosterChange, RosterChangeKind
from ledger import chart
from ledger.journal import Dimensions, debit_credit, journal_entry_post
from ledger.models import (
    AgreementChange,
    AgreementChangeKind,
    RevenueShareAgreement,
    Statement,
    StatementEvent,
    StatementEventKind,
)
from ledger.statements import statement_generate
from memberships.models import Market, MembershipEvent
from partners.models import Partner
from tests.factories import EmployerFactory, PartnerFactory, user_with_role
from tests.memberships.factories import active_membership

pytestmark = pytest.mark.django_db

OCTOBER = dt.date(2026, 10, 1)


def agreement_url(view: str, *args: object) -> str:
    return reverse(f"admin:ledger_revenueshareagreement_{view}", args=args)


@pytest.fixture
def finance_user() -> User:
    return user_with_role(Role.FINANCE_STAFF, is_staff=True)


@pytest.fixture
def finance_admin(finance_user: User) -> Client:
    client = Client()
    client.force_login(finance_user)
    return client


@pytest.fixture
def partner() -> Partner:
    return PartnerFactory.create(name="Audit Health")


@pytest.fixture
def market(partner: Partner) -> Market:
    return Market.objects.create(name="Audit Market", slug="audit-market", partner=partner)


def agreement_form(market: Market, **changes: Any) -> dict[str, Any]:
    return {
        "partner": market.partner_id,
        "market": market.pk,
        "share_bps": 2000,
        "recoupment_total_cents": 0,
        "recoupment_rate_bps": 0,
        "effective_from": "2026-01-01",
        "effective_until": "",
        **changes,
    }


def recognize(market: Market, *, key: str, cents: int, day: dt.date) -> None:
    journal_entry_post(
        idempotency_key=f"test-audit:{key}",
        kind="test",
        occurred_on=day,
        postings=debit_credit(
            debit=chart.account_get(chart.DEFERRED_REVENUE),
            credit=chart.account_get(chart.MEMBERSHIP_REVENUE),
            amount_cents=cents,
            dimensions=Dimensions(partner_id=market.partner_id, market_id=market.pk),
        ),
    )


# --- revenue-share agreements ---------------------------------------------------------------


def test_creating_editing_and_ending_an_agreement_each_record_who_and_what(
    finance_admin: Client, finance_user: User, market: Market
) -> None:
    created = finance_admin.post(agreement_url("add"), agreement_form(market))
    assert created.status_code == 302, created.content
    agreement = RevenueShareAgreement.objects.get()
    [creation] = AgreementChange.objects.all()
    assert (creation.kind, creation.actor, creation.agreement) == (
        AgreementChangeKind.CREATED,
        finance_user,
        agreement,
    )
    assert creation.changes["share_bps"] == [None, 2000]
    assert creation.changes["effective_from"] == [None, "2026-01-01"]

    edited = finance_admin.post(
        agreement_url("change", agreement.pk), agreement_form(market, share_bps=2500)
    )
    assert edited.status_code == 302, edited.content
    ended = finance_admin.post(
        agreement_url("change", agreement.pk),
        agreement_form(market, share_bps=2500, effective_until="2027-01-01"),
    )
    assert ended.status_code == 302, ended.content
    unchanged = finance_admin.post(
        agreement_url("change", agreement.pk),
        agreement_form(market, share_bps=2500, effective_until="2027-01-01"),
    )
    assert unchanged.status_code == 302

    history = list(AgreementChange.objects.order_by("id").values_list("kind", "actor", "changes"))
    assert history == [
        (AgreementChangeKind.CREATED, finance_user.pk, creation.changes),
        (AgreementChangeKind.EDITED, finance_user.pk, {"share_bps": [2000, 2500]}),
        (AgreementChangeKind.ENDED, finance_user.pk, {"effective_until": [None, "2027-01-01"]}),
    ]
    page = finance_admin.get(agreement_url("change", agreement.pk))
    assert f"ended by {finance_user.email}" in page.content.decode()


def test_the_agreement_history_is_read_only_in_the_admin(
    finance_admin: Client, finance_user: User, market: Market
) -> None:
    finance_admin.post(agreement_url("add"), agreement_form(market))
    change = AgreementChange.objects.get()

    listing = finance_admin.get(reverse("admin:ledger_agreementchange_changelist"))
    detail = finance_admin.get(reverse("admin:ledger_agreementchange_change", args=[change.pk]))
    add = finance_admin.get(reverse("admin:ledger_agreementchange_add"))
    delete = finance_admin.post(
        reverse("admin:ledger_agreementchange_delete", args=[change.pk]), {"post": "yes"}
    )

    assert (listing.status_code, detail.status_code) == (200, 200)
    assert b'type="submit"' not in detail.content.split(b'id="content-main"')[1]
    assert (add.status_code, delete.status_code) == (403, 403)
    assert AgreementChange.objects.count() == 1


# --- statements --------------------------------------------------------------------------------


def test_each_statement_action_records_one_event_with_its_actor_and_amounts(
    client_for: Callable[[User], APIClient], finance_user: User, partner: Partner, market: Market
) -> None:
    RevenueShareAgreement.objects.create(
        partner=partner, market=market, share_bps=2000, effective_from=dt.date(2026, 1, 1)
    )
    recognize(market, key="1", cents=50_000, day=dt.date(2026, 10, 3))

    statement = statement_generate(partner=partner, period=OCTOBER)  # the monthly task: no actor
    statement_generate(partner=partner, period=OCTOBER)  # nothing changed: nothing recorded
    recognize(market, key="2", cents=10_000, day=dt.date(2026, 10, 20))
    statement_generate(partner=partner, period=OCTOBER, actor=finance_user)
    finance = client_for(finance_user)
    with clock.as_of(dt.date(2026, 11, 5)):
        approved = finance.post(f"/api/v1/statements/{statement.pk}/approve/")
        paid = finance.post(f"/api/v1/statements/{statement.pk}/payout/", {"reference": "ACH-77"})

    assert (approved.status_code, paid.status_code) == (200, 200), (approved.content, paid.content)
    events = list(
        StatementEvent.objects.filter(statement=statement)
        .order_by("id")
        .values_list("kind", "actor", "changes")
    )
    assert [(kind, actor) for kind, actor, _ in events] == [
        (StatementEventKind.GENERATED, None),
        (StatementEventKind.REGENERATED, finance_user.pk),
        (StatementEventKind.APPROVED, finance_user.pk),
        (StatementEventKind.PAYOUT_RECORDED, finance_user.pk),
    ]
    assert events[0][2]["amount_due_cents"] == [None, 10_000]
    assert events[1][2]["amount_due_cents"] == [10_000, 12_000]
    assert events[1][2]["net_cents"] == [50_000, 60_000]
    assert events[2][2] == {"status": ["draft", "approved"]}
    assert events[3][2] == {"status": ["approved", "paid"], "payout_reference": ["", "ACH-77"]}


def test_statement_history_shows_on_the_read_only_statement_page(
    finance_admin: Client, finance_user: User, partner: Partner, market: Market
) -> None:
    RevenueShareAgreement.objects.create(
        partner=partner, market=market, share_bps=2000, effective_from=dt.date(2026, 1, 1)
    )
    statement = statement_generate(partner=partner, period=OCTOBER)
    page = finance_admin.get(reverse("admin:ledger_statement_change", args=[statement.pk]))
    assert page.status_code == 200
    assert b"generated" in page.content
    assert Statement.objects.get().events.count() == 1


# --- memberships and rosters (recorded since issues 4 and 5; the actor is checked here) --------


def test_a_membership_change_records_its_actor(client_for: Callable[[User], APIClient]) -> None:
    membership = active_membership(code="standard_annual", start=dt.date(2027, 1, 5))
    member = membership.member.user
    with clock.as_of(dt.date(2027, 2, 1)):
        response = client_for(member).post("/api/v1/me/membership/cancel/", {})
    assert response.status_code == 200, response.content
    [event] = MembershipEvent.objects.filter(membership=membership)
    assert (event.kind, event.actor) == ("cancellation_scheduled", member)


def test_a_roster_change_records_its_actor(client_for: Callable[[User], APIClient]) -> None:
    employer = EmployerFactory.create()
    admin = user_with_role(Role.EMPLOYER_ADMIN, employer=employer)
    body = {
        "external_id": "E1",
        "full_name": "Ada Worker",
        "work_email": "ada@acme.test",
        "date_of_birth": "1980-02-03",
        "eligible_from": "2026-01-01",
    }
    with clock.as_of(dt.date(2026, 1, 5)):
        added = client_for(admin).post(f"/api/v1/employers/{employer.pk}/roster/", body)
        entry_id = added.json()["id"]
        ended = client_for(admin).patch(
            f"/api/v1/employers/{employer.pk}/roster/{entry_id}/",
            {"eligible_until": "2026-03-31"},
        )
    assert (added.status_code, ended.status_code) == (201, 200), (added.content, ended.content)
    changes = list(RosterChange.objects.order_by("id").values_list("kind", "actor"))
    assert changes[0] == (RosterChangeKind.ADDED, admin.pk)
    assert all(actor == admin.pk for _, actor in changes)
    assert len(changes) == 2
