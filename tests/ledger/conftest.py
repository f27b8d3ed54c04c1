"""Shared ledger test data: `books`, two partners' markets, agreements, a month or two of
recognized revenue and refunds in the ledger, and their draft statements (the statements API
and the finance admin tests use it; test_ledger_api.py has its own `books`)."""

from __future__ import annotations

import datetime as dt

import pytest

from ledger import chart
from ledger.journal import Dimensions, debit_credit, journal_entry_post
from ledger.models import RevenueShareAgreement
from ledger.statements import statement_generate
from memberships.models import Market
from tests.factories import PartnerFactory

OCTOBER = dt.date(2026, 10, 1)
SEPTEMBER = dt.date(2026, 9, 1)


def _post(key: str, *, debit: str, credit: str, cents: int, market: Market, day: dt.date) -> None:
    journal_entry_post(
        idempotency_key=f"test-statement-api:{key}",
        kind="test",
        occurred_on=day,
        postings=debit_credit(
            debit=chart.account_get(debit),
            credit=chart.account_get(credit),
            amount_cents=cents,
            dimensions=Dimensions(partner_id=market.partner_id, market_id=market.pk),
        ),
    )


def _recognize(key: str, *, cents: int, market: Market, day: dt.date) -> None:
    _post(
        key,
        debit=chart.DEFERRED_REVENUE,
        credit=chart.MEMBERSHIP_REVENUE,
        cents=cents,
        market=market,
        day=day,
    )


def _refund(key: str, *, cents: int, market: Market, day: dt.date) -> None:
    _post(
        key,
        debit=chart.REFUNDS_CREDITS,
        credit=chart.CASH_STRIPE,
        cents=cents,
        market=market,
        day=day,
    )


@pytest.fixture
def books():
    """Partner North with two markets and October's revenue in the ledger; partner South with
    one market and a small September and October."""
    north = PartnerFactory(name="Test Health North")
    south = PartnerFactory(name="Test Health South")
    lake = Market.objects.create(name="Test Lakeshore", slug="test-lakeshore", partner=north)
    hills = Market.objects.create(name="Test Hills", slug="test-hills", partner=north)
    coast = Market.objects.create(name="Test Coast", slug="test-coast", partner=south)
    start = dt.date(2026, 1, 1)
    RevenueShareAgreement.objects.create(
        partner=north,
        market=lake,
        share_bps=2000,
        recoupment_total_cents=10_000,
        recoupment_rate_bps=1000,
        effective_from=start,
    )
    RevenueShareAgreement.objects.create(
        partner=north, market=hills, share_bps=2000, effective_from=start
    )
    RevenueShareAgreement.objects.create(
        partner=south, market=coast, share_bps=1500, effective_from=start
    )
    _recognize("lake-1", cents=60_000, market=lake, day=dt.date(2026, 10, 3))
    _recognize("lake-2", cents=40_000, market=lake, day=dt.date(2026, 10, 20))
    _refund("lake-refund", cents=5_000, market=lake, day=dt.date(2026, 10, 21))
    _recognize("hills-1", cents=20_001, market=hills, day=dt.date(2026, 10, 9))
    _recognize("coast-sep", cents=10_000, market=coast, day=dt.date(2026, 9, 9))
    _recognize("coast-oct", cents=12_000, market=coast, day=dt.date(2026, 10, 9))
    return {
        "north": north,
        "south": south,
        "lake": lake,
        "hills": hills,
        "coast": coast,
        "north_oct": statement_generate(partner=north, period=OCTOBER),
        "south_sep": statement_generate(partner=south, period=SEPTEMBER),
        "south_oct": statement_generate(partner=south, period=OCTOBER),
    }
