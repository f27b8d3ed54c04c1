"""Start-up recoupment is a schedule in month order: it never repays more than was contributed
and a month's figure does not depend on the order months are approved in; two agreements of one
market each repay their own contribution. (Found by the books property test: a later month
approved first let earlier months recoup again, and drafts changed when others were approved.)"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Sum

from accounts.models import Role
from accounts.services import role_grant
from ledger import chart
from ledger.journal import Dimensions, debit_credit, journal_entry_post
from ledger.models import RevenueShareAgreement, StatementRecoupment, StatementStatus
from ledger.statements import statement_approve, statement_generate
from memberships.models import Market
from tests.factories import PartnerFactory, UserFactory

pytestmark = pytest.mark.django_db

MONTHS = [dt.date(2027, month, 1) for month in range(1, 7)]


def recognize(market: Market, day: dt.date, cents: int) -> None:
    journal_entry_post(
        idempotency_key=f"test-recoupment:{market.pk}:{day}",
        kind="test",
        occurred_on=day,
        postings=debit_credit(
            debit=chart.account_get(chart.DEFERRED_REVENUE),
            credit=chart.account_get(chart.MEMBERSHIP_REVENUE),
            amount_cents=cents,
            dimensions=Dimensions(partner_id=market.partner_id, market_id=market.pk),
        ),
    )


@pytest.fixture
def market() -> Market:
    partner = PartnerFactory.create(name="Test Health Recoup")
    market = Market.objects.create(name="Test Recoup", slug="test-recoup", partner=partner)
    for month in MONTHS:
        recognize(market, month + dt.timedelta(days=9), 10_000)  # 100.00 every month
    return market


def recouped(agreement: RevenueShareAgreement) -> int:
    return int(
        StatementRecoupment.objects.filter(
            agreement=agreement, statement__status=StatementStatus.APPROVED
        ).aggregate(total=Sum("amount_cents"))["total"]
        or 0
    )


def test_months_approved_out_of_order_never_recoup_more_than_contributed(market):
    finance = UserFactory.create()
    role_grant(user=finance, role=Role.FINANCE_STAFF)
    agreement = RevenueShareAgreement.objects.create(
        partner_id=market.partner_id,
        market=market,
        share_bps=1000,
        recoupment_total_cents=2_500,  # 10% of 100.00 a month: repaid in 2.5 months
        recoupment_rate_bps=1000,
        effective_from=MONTHS[0],
    )
    partner = market.partner
    assert partner is not None
    for month in reversed(MONTHS):  # latest first
        statement = statement_generate(partner=partner, period=month)
        statement_approve(statement=statement, actor=finance)
    assert recouped(agreement) == 2_500
    amounts = [
        statement_generate(partner=partner, period=month).recoupment_cents for month in MONTHS
    ]
    assert amounts == [1_000, 1_000, 500, 0, 0, 0]  # the earliest months, whatever the order


def test_a_draft_does_not_change_when_other_months_are_approved(market):
    finance = UserFactory.create()
    role_grant(user=finance, role=Role.FINANCE_STAFF)
    RevenueShareAgreement.objects.create(
        partner_id=market.partner_id,
        market=market,
        share_bps=1000,
        recoupment_total_cents=2_500,
        recoupment_rate_bps=1000,
        effective_from=MONTHS[0],
    )
    partner = market.partner
    assert partner is not None
    drafts = [statement_generate(partner=partner, period=month) for month in MONTHS]
    before = [(s.recoupment_cents, s.amount_due_cents) for s in drafts]

    statement_approve(statement=drafts[4], actor=finance)
    statement_approve(statement=drafts[1], actor=finance)
    again = [statement_generate(partner=partner, period=month) for month in MONTHS]

    assert [(s.recoupment_cents, s.amount_due_cents) for s in again] == before
    assert [s.recoupment_cents for s in again] == [1_000, 1_000, 500, 0, 0, 0]


def test_two_agreements_of_one_market_each_repay_their_own_contribution(market):
    finance = UserFactory.create()
    role_grant(user=finance, role=Role.FINANCE_STAFF)
    partner = market.partner
    assert partner is not None
    first = RevenueShareAgreement.objects.create(
        partner=partner,
        market=market,
        share_bps=1000,
        recoupment_total_cents=1_500,
        recoupment_rate_bps=1000,
        effective_from=MONTHS[0],
        effective_until=MONTHS[2],
    )
    second = RevenueShareAgreement.objects.create(
        partner=partner,
        market=market,
        share_bps=1000,
        recoupment_total_cents=800,
        recoupment_rate_bps=1000,
        effective_from=MONTHS[2],
    )
    for month in MONTHS:
        statement_approve(
            statement=statement_generate(partner=partner, period=month), actor=finance
        )
    assert (recouped(first), recouped(second)) == (1_500, 800)
