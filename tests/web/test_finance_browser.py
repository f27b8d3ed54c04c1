"""The finance pages in a real browser: finance staff open the statements list, open a draft
statement whose chart shows 12 months of real ledger figures (screenshot `statement-page`),
approve it through the confirmation step, see it approved and download its CSV. Members and
employer admins are refused every finance page with the 403 page."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from playwright.sync_api import expect

from accounts.models import Role, User
from config import clock
from ledger import chart
from ledger.journal import Dimensions, debit_credit, journal_entry_post
from ledger.models import RevenueShareAgreement, Statement, StatementStatus
from ledger.statement_export import months_ending_at
from ledger.statements import statement_approve, statement_generate
from memberships.models import Market, MemberMarket, MembershipEvent, MembershipStatus
from tests.factories import TEST_PASSWORD, EmployerFactory, PartnerFactory, user_with_role
from tests.memberships.factories import active_membership
from tests.web.conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True)

OCTOBER = dt.date(2026, 10, 1)
PARTNER = "Riverside Health Partners"


def _post(key: str, *, debit: str, credit: str, cents: int, market: Market, day: dt.date) -> None:
    journal_entry_post(
        idempotency_key=f"test-finance-browser:{key}",
        kind="test",
        occurred_on=day,
        postings=debit_credit(
            debit=chart.account_get(debit),
            credit=chart.account_get(credit),
            amount_cents=cents,
            dimensions=Dimensions(partner_id=market.partner_id, market_id=market.pk),
        ),
    )


def twelve_months_of_books(*, approver: User) -> Statement:
    """A partner with two markets and agreements since November 2025, revenue recognized and
    some refunds in every month to October 2026, members in both markets; the statements of
    November to September approved, October's a draft (returned)."""
    partner = PartnerFactory.create(name=PARTNER)
    markets = [
        Market.objects.create(name="Riverside North", slug="riverside-north", partner=partner),
        Market.objects.create(name="Riverside South", slug="riverside-south", partner=partner),
    ]
    months = months_ending_at(OCTOBER)
    for market, share_bps in zip(markets, (2000, 1500), strict=True):
        RevenueShareAgreement.objects.create(
            partner=partner, market=market, share_bps=share_bps, effective_from=months[0]
        )
    for i, month in enumerate(months):
        for j, market in enumerate(markets):
            recognized = 180_000 + i * 14_500 + j * 61_000
            _post(
                f"{market.slug}:{month:%Y-%m}:recognized",
                debit=chart.DEFERRED_REVENUE,
                credit=chart.MEMBERSHIP_REVENUE,
                cents=recognized,
                market=market,
                day=month + dt.timedelta(days=9),
            )
            _post(
                f"{market.slug}:{month:%Y-%m}:refund",
                debit=chart.REFUNDS_CREDITS,
                credit=chart.CASH_STRIPE,
                cents=2_500 + (i % 4) * 3_100,
                market=market,
                day=month + dt.timedelta(days=20),
            )
    for n in range(7):  # members: activated over the year, one of them left in October
        market = markets[n % 2]
        membership = active_membership(start=months[n])
        MemberMarket.objects.create(
            member=membership.member, market=market, effective_from=months[0]
        )
        activated = clock.start_of_day(months[n + 5] + dt.timedelta(days=2))
        MembershipEvent.objects.create(
            membership=membership,
            kind="activated",
            to_status=MembershipStatus.ACTIVE,
            created_at=activated,
        )
        if n == 0:
            membership.ended_at = clock.start_of_day(dt.date(2026, 10, 14))
            membership.save(update_fields=["ended_at"])
    for month in months[:-1]:
        statement_approve(
            statement=statement_generate(partner=partner, period=month), actor=approver
        )
    return statement_generate(partner=partner, period=OCTOBER)


def test_finance_approves_a_statement_and_downloads_its_csv(login, live_server):
    finance = user_with_role(Role.FINANCE_STAFF)
    statement = twelve_months_of_books(approver=finance)
    assert statement.status == StatementStatus.DRAFT

    page = login(finance, TEST_PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("Statements")
    page.get_by_label("Partner").select_option(label=PARTNER)
    page.get_by_label("Status").select_option("draft")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#statements tbody tr")).to_have_count(1)
    page.get_by_role("link", name="2026-10").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(f"Statement: {PARTNER}, October 2026")
    expect(page.locator("#statement-status")).to_have_text("draft")
    lines = page.locator("#market-lines tbody tr")
    expect(lines).to_have_count(2)
    expect(lines.nth(0).locator("th")).to_have_text("Riverside North")
    chart_svg = page.get_by_role("img", name=f"{PARTNER}: net basis and partner share")
    expect(chart_svg).to_be_visible()
    expect(chart_svg.locator("rect.bar")).to_have_count(24)  # 12 months * (net, share)
    box = chart_svg.bounding_box()
    assert box is not None
    assert box["width"] > 500
    assert box["height"] > 200
    expect(page.locator("#members-active")).not_to_have_text("0")
    screenshot(page, "statement-page")

    page.get_by_role("button", name="Approve…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Approve this statement?")
    page.get_by_role("button", name="Yes, approve").click()

    expect(page.locator("#statement-status")).to_have_text("approved")
    expect(page.get_by_role("status")).to_contain_text("Statement approved")
    expect(page.get_by_role("button", name="Approve…")).to_have_count(0)
    statement.refresh_from_db()
    assert statement.status == StatementStatus.APPROVED
    assert statement.approved_by_id == finance.pk

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename == "statement-riverside-health-partners-2026-10.csv"
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    by_market = {row[1]: row for row in rows[1:]}
    assert list(by_market) == ["Riverside North", "Riverside South", "Total"]
    header = rows[0]
    north = dict(zip(header, by_market["Riverside North"], strict=True))
    # October is month 12 (i = 11): 180,000 + 11 * 14,500 recognized, 2,500 + 3 * 3,100 refunded
    assert north["recognized_cents"] == str(180_000 + 11 * 14_500)
    assert north["refunds_cents"] == str(2_500 + 3 * 3_100)
    assert north["net_cents"] == str(339_500 - 11_800)
    assert north["share_cents"] == str((339_500 - 11_800) * 2000 // 10_000)
    total = dict(zip(header, by_market["Total"], strict=True))
    assert total["amount_cents"] == str(statement.amount_due_cents)


@pytest.mark.parametrize("role", [Role.MEMBER, Role.EMPLOYER_ADMIN])
def test_members_and_employer_admins_are_refused_the_finance_pages(login, live_server, role):
    employer = EmployerFactory() if role == Role.EMPLOYER_ADMIN else None
    user = user_with_role(role, employer=employer)
    page = login(user, TEST_PASSWORD)

    for path in ("/finance/statements/", "/finance/ledger/", "/finance/invoices/"):
        response = page.goto(f"{live_server.url}{path}")
        assert response is not None
        assert response.status == 403, path
        expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(page.get_by_role("link", name="Statements")).to_have_count(0)
