"""The finance ledger read API: balances as of a day, journal entries with their postings and
filters, who may read them, and a fixed number of queries whatever the size of the books."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest

from accounts.models import Role
from accounts.selectors import ANONYMOUS_ACCESS, Access
from billing.models import BillingCustomer, CollectionMethod, Invoice, InvoiceLine
from config import clock
from ledger import chart
from ledger.apis import AccountBalanceListApi, JournalEntryDetailApi, JournalEntryListApi
from ledger.journal import Dimensions, debit_credit, journal_entry_post
from ledger.models import JournalEntry
from memberships.models import Market, Membership
from partners.models import Partner
from tests.api_assertions import assert_error
from tests.factories import EmployerFactory, PartnerFactory, user_with_role
from tests.memberships.factories import active_membership

pytestmark = pytest.mark.django_db

ACCOUNTS = "/api/v1/ledger/accounts/"
ENTRIES = "/api/v1/ledger/entries/"

JAN_31 = dt.date(2027, 1, 31)
FEB_28 = dt.date(2027, 2, 28)


def post(key: str, kind: str, day: dt.date, debit: str, credit: str, cents: int, **dims: Any):
    entry = journal_entry_post(
        idempotency_key=key,
        kind=kind,
        occurred_on=day,
        postings=debit_credit(
            debit=account(debit),
            credit=account(credit),
            amount_cents=cents,
            dimensions=Dimensions(**dims),
        ),
    )
    assert entry is not None
    return entry


def account(code: str):
    if code.startswith("payable:partner:"):
        return chart.partner_payable_account(int(code.rsplit(":", 1)[1]))
    return chart.account_get(code)


@dataclass
class Books:
    partner: Partner
    market: Market
    membership: Membership
    invoice_line: InvoiceLine
    invoiced: JournalEntry  # Jan 10
    paid: JournalEntry  # Jan 12
    recognized: JournalEntry  # Feb 1
    refunded: JournalEntry  # Feb 5
    shared: JournalEntry  # Feb 20
    late: JournalEntry  # Mar 3

    @property
    def payable(self) -> str:
        return f"payable:partner:{self.partner.pk}"


@pytest.fixture
def books() -> Books:
    """A member's $99 annual membership in a partner's market: invoiced, paid, a month
    recognized, $5 refunded, the partner's share accrued, and one more payment in March."""
    partner = PartnerFactory.create()
    market = Market.objects.get(slug="northeast-ohio")
    membership = active_membership(code="prime_annual", start=dt.date(2027, 1, 10))
    invoice = Invoice.objects.create(
        customer=BillingCustomer.objects.get(user=membership.member.user),
        collection_method=CollectionMethod.CHARGE_AUTOMATICALLY,
        total_cents=9900,
    )
    line = InvoiceLine.objects.create(
        invoice=invoice,
        membership=membership,
        description="Prime annual",
        amount_cents=9900,
        period_start=dt.date(2027, 1, 10),
        period_end=dt.date(2028, 1, 9),
    )
    full = {
        "partner_id": partner.pk,
        "market_id": market.pk,
        "membership_id": membership.pk,
        "invoice_line_id": line.pk,
    }
    chart.account_get(chart.BAD_DEBT)  # an account without postings
    return Books(
        partner=partner,
        market=market,
        membership=membership,
        invoice_line=line,
        invoiced=post(
            "t:inv",
            "invoice_finalized",
            dt.date(2027, 1, 10),
            chart.RECEIVABLE_MEMBER,
            chart.DEFERRED_REVENUE,
            9900,
            **full,
        ),
        paid=post(
            "t:pay",
            "payment",
            dt.date(2027, 1, 12),
            chart.CASH_STRIPE,
            chart.RECEIVABLE_MEMBER,
            9900,
            membership_id=membership.pk,
        ),
        recognized=post(
            "t:rec",
            "recognition",
            dt.date(2027, 2, 1),
            chart.DEFERRED_REVENUE,
            chart.MEMBERSHIP_REVENUE,
            825,
            partner_id=partner.pk,
            market_id=market.pk,
            membership_id=membership.pk,
        ),
        refunded=post(
            "t:ref", "refund", dt.date(2027, 2, 5), chart.REFUNDS_CREDITS, chart.CASH_STRIPE, 500
        ),
        shared=post(
            "t:share",
            "revenue_share",
            dt.date(2027, 2, 20),
            chart.REVENUE_SHARE,
            f"payable:partner:{partner.pk}",
            200,
            partner_id=partner.pk,
        ),
        late=post(
            "t:late", "payment", dt.date(2027, 3, 3), chart.CASH_STRIPE, chart.RECEIVABLE_MEMBER, 7
        ),
    )


@pytest.fixture
def finance(client_for):
    return client_for(user_with_role(Role.FINANCE_STAFF))


def balances(response) -> dict[str, tuple[int, int]]:
    assert response.status_code == 200, response.content
    return {
        row["code"]: (row["balance_cents"], row["normal_balance_cents"]) for row in response.json()
    }


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


# --- balances ----------------------------------------------------------------------------------


def test_balances_at_the_end_of_january(finance, books):
    got = balances(finance.get(ACCOUNTS, {"as_of": "2027-01-31"}))

    assert got == {
        chart.CASH_STRIPE: (9900, 9900),
        chart.RECEIVABLE_MEMBER: (0, 0),
        chart.DEFERRED_REVENUE: (-9900, 9900),
        chart.MEMBERSHIP_REVENUE: (0, 0),
        chart.REFUNDS_CREDITS: (0, 0),
        chart.REVENUE_SHARE: (0, 0),
        chart.BAD_DEBT: (0, 0),
        books.payable: (0, 0),
    }


def test_balances_at_the_end_of_february(finance, books):
    got = balances(finance.get(ACCOUNTS, {"as_of": "2027-02-28"}))

    assert got == {
        chart.CASH_STRIPE: (9400, 9400),  # asset: debit normal
        chart.RECEIVABLE_MEMBER: (0, 0),
        chart.DEFERRED_REVENUE: (-9075, 9075),  # liability: credit normal, read positive
        chart.MEMBERSHIP_REVENUE: (-825, 825),  # revenue: credit normal, read positive
        chart.REFUNDS_CREDITS: (500, 500),  # contra-revenue: debit normal
        chart.REVENUE_SHARE: (200, 200),  # expense: debit normal
        chart.BAD_DEBT: (0, 0),
        books.payable: (-200, 200),
    }
    assert sum(balance for balance, _ in got.values()) == 0  # the trial balance balances


def test_a_balance_row_has_every_field(finance, books):
    rows = finance.get(ACCOUNTS, {"as_of": "2027-02-28"}).json()

    assert [row["code"] for row in rows] == sorted(row["code"] for row in rows)
    payable = next(row for row in rows if row["code"] == books.payable)
    assert payable == {
        "id": account(books.payable).pk,
        "code": books.payable,
        "name": f"Payable to partner #{books.partner.pk}",
        "type": "liability",
        "partner": books.partner.pk,
        "balance_cents": -200,
        "normal_balance_cents": 200,
        "currency": "usd",
    }
    cash = next(row for row in rows if row["code"] == chart.CASH_STRIPE)
    assert cash["partner"] is None
    assert cash["type"] == "asset"


def test_balances_default_to_today(finance, books):
    with clock.as_of(JAN_31):
        january = balances(finance.get(ACCOUNTS))
    with clock.as_of(dt.date(2027, 3, 31)):
        march = balances(finance.get(ACCOUNTS))

    assert january[chart.CASH_STRIPE] == (9900, 9900)
    assert march[chart.CASH_STRIPE] == (9407, 9407)
    assert march[chart.RECEIVABLE_MEMBER] == (-7, -7)


def test_balances_take_one_query_whatever_the_number_of_accounts(
    finance, books, django_assert_num_queries
):
    for partner in PartnerFactory.create_batch(3):
        chart.partner_payable_account(partner)
    finance.get(ACCOUNTS)  # the token and the caller's access are looked up the same each time

    with django_assert_num_queries(3) as captured:  # token, access, balances
        response = finance.get(ACCOUNTS, {"as_of": "2027-02-28"})

    assert response.status_code == 200
    assert len(response.json()) == 11
    balance_query = captured.captured_queries[-1]["sql"]
    assert "SUM(" in balance_query
    assert "GROUP BY" in balance_query


@pytest.mark.parametrize("as_of", ["2027-02-30", "yesterday", "31/01/2027", "2027-1-311"])
def test_a_bad_as_of_is_a_400(finance, as_of):
    error = assert_error(finance.get(ACCOUNTS, {"as_of": as_of}), 400, "invalid")

    assert error["details"]["as_of"][0]["code"] == "invalid"


# --- journal entries ---------------------------------------------------------------------------


def test_entries_newest_first_with_their_postings(finance, books):
    response = finance.get(ENTRIES)

    assert ids(response) == [
        books.late.pk,
        books.shared.pk,
        books.refunded.pk,
        books.recognized.pk,
        books.paid.pk,
        books.invoiced.pk,
    ]
    body = response.json()
    assert body["count"] == 6
    invoiced = body["results"][-1]
    assert invoiced["kind"] == "invoice_finalized"
    assert invoiced["occurred_on"] == "2027-01-10"
    assert invoiced["idempotency_key"] == "t:inv"
    assert invoiced["reverses"] is None
    dims = {
        "partner": books.partner.pk,
        "market": books.market.pk,
        "membership": books.membership.pk,
        "invoice_line": books.invoice_line.pk,
    }
    assert [{k: v for k, v in p.items() if k != "id"} for p in invoiced["postings"]] == [
        {"account": chart.RECEIVABLE_MEMBER, "amount_cents": 9900, "currency": "usd", **dims},
        {"account": chart.DEFERRED_REVENUE, "amount_cents": -9900, "currency": "usd", **dims},
    ]


def test_entries_paginate(finance, books):
    page = finance.get(ENTRIES, {"limit": 2, "offset": 2}).json()

    assert page["count"] == 6
    assert [row["id"] for row in page["results"]] == [books.refunded.pk, books.recognized.pk]


def test_filter_by_account(finance, books):
    got = ids(finance.get(ENTRIES, {"account": chart.CASH_STRIPE}))

    assert got == [books.late.pk, books.refunded.pk, books.paid.pk]
    assert ids(finance.get(ENTRIES, {"account": "no:such:account"})) == []


def test_filter_by_partner(finance, books):
    got = ids(finance.get(ENTRIES, {"partner": books.partner.pk}))

    assert got == [books.shared.pk, books.recognized.pk, books.invoiced.pk]


def test_filter_by_membership(finance, books):
    got = ids(finance.get(ENTRIES, {"membership": books.membership.pk}))

    assert got == [books.recognized.pk, books.paid.pk, books.invoiced.pk]


def test_filter_by_market_invoice_line_and_kind(finance, books):
    assert ids(finance.get(ENTRIES, {"market": books.market.pk})) == [
        books.recognized.pk,
        books.invoiced.pk,
    ]
    assert ids(finance.get(ENTRIES, {"invoice_line": books.invoice_line.pk})) == [books.invoiced.pk]
    assert ids(finance.get(ENTRIES, {"kind": "payment"})) == [books.late.pk, books.paid.pk]


def test_filter_by_date_range_inclusive(finance, books):
    got = ids(finance.get(ENTRIES, {"from": "2027-01-12", "to": "2027-02-05"}))

    assert got == [books.refunded.pk, books.recognized.pk, books.paid.pk]


def test_posting_filters_combine_on_one_posting(finance, books):
    """Revenue postings for the partner: the recognition only (the share entry has a posting
    for the partner, but not on the revenue account)."""
    got = ids(
        finance.get(ENTRIES, {"account": chart.MEMBERSHIP_REVENUE, "partner": books.partner.pk})
    )

    assert got == [books.recognized.pk]


def test_an_entry_matching_on_both_postings_is_listed_once(finance, books):
    response = finance.get(ENTRIES, {"invoice_line": books.invoice_line.pk})

    assert response.json()["count"] == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2027-13-01"}, "from"),
        ({"to": "soon"}, "to"),
        ({"from": "2027-03-01", "to": "2027-02-01"}, "to"),
        ({"partner": "abc"}, "partner"),
        ({"membership": "0"}, "membership"),
        ({"market": "-3"}, "market"),
        ({"invoice_line": "1.5"}, "invoice_line"),
        ({"account": "x" * 65}, "account"),
    ],
)
def test_bad_filters_are_a_400(finance, params, field):
    error = assert_error(finance.get(ENTRIES, params), 400, "invalid")

    assert field in error["details"], error


def test_entry_detail(finance, books):
    response = finance.get(f"{ENTRIES}{books.refunded.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == books.refunded.pk
    assert body["kind"] == "refund"
    assert [(p["account"], p["amount_cents"], p["partner"]) for p in body["postings"]] == [
        (chart.REFUNDS_CREDITS, 500, None),
        (chart.CASH_STRIPE, -500, None),
    ]


def test_a_missing_entry_is_a_404(finance, books):
    assert_error(finance.get(f"{ENTRIES}999999999/"), 404, "not_found")


@pytest.mark.parametrize("extra_entries", [0, 12])
def test_the_entry_list_takes_a_fixed_number_of_queries(
    finance, books, django_assert_num_queries, extra_entries
):
    for n in range(extra_entries):
        post(
            f"t:more:{n}",
            "payment",
            dt.date(2027, 4, 1),
            chart.CASH_STRIPE,
            chart.RECEIVABLE_MEMBER,
            n + 1,
            partner_id=books.partner.pk,
            membership_id=books.membership.pk,
        )
    finance.get(ENTRIES)

    # token, access, count, entries, postings with their accounts
    with django_assert_num_queries(5):
        response = finance.get(ENTRIES, {"partner": books.partner.pk, "limit": 100})

    assert response.json()["count"] == 3 + extra_entries


def test_entry_detail_takes_a_fixed_number_of_queries(finance, books, django_assert_num_queries):
    finance.get(f"{ENTRIES}{books.invoiced.pk}/")

    with django_assert_num_queries(4):  # token, access, entry, postings with their accounts
        finance.get(f"{ENTRIES}{books.invoiced.pk}/")


# --- who may read the ledger -------------------------------------------------------------------

ROUTES = ["accounts", "entries", "entry"]


def url(route: str, books: Books) -> str:
    return {
        "accounts": ACCOUNTS,
        "entries": ENTRIES,
        "entry": f"{ENTRIES}{books.invoiced.pk}/",
    }[route]


@pytest.mark.parametrize("role", [Role.FINANCE_STAFF, Role.OPERATOR_ADMIN])
@pytest.mark.parametrize("route", ROUTES)
def test_staff_read_the_ledger(client_for, books, role, route):
    response = client_for(user_with_role(role)).get(url(route, books))

    assert response.status_code == 200, response.content


@pytest.mark.parametrize("role", [Role.MEMBER, Role.PARTNER_VIEWER, Role.EMPLOYER_ADMIN])
@pytest.mark.parametrize("route", ROUTES)
def test_other_roles_are_refused(client_for, books, role, route):
    scope = {
        Role.MEMBER: {},
        Role.PARTNER_VIEWER: {"partner": books.partner},  # even the partner the postings are about
        Role.EMPLOYER_ADMIN: {"employer": EmployerFactory()},
    }[role]

    response = client_for(user_with_role(role, **scope)).get(url(route, books))

    assert_error(response, 403, "permission_denied")


@pytest.mark.parametrize("route", ROUTES)
def test_anonymous_callers_are_asked_to_authenticate(api_client, books, route):
    response = api_client.get(url(route, books))

    assert_error(response, 401, "not_authenticated")


@pytest.mark.parametrize(
    "view", [AccountBalanceListApi, JournalEntryListApi, JournalEntryDetailApi]
)
def test_the_scoped_querysets_show_ledger_rows_to_staff_only(books, view):
    """Behind the role check, the querysets themselves hide the ledger from anyone else."""
    partner_viewer = Access(
        user_id=1,
        roles=frozenset({Role.PARTNER_VIEWER}),
        employer_ids=frozenset(),
        partner_ids=frozenset({books.partner.pk}),
    )
    finance_staff = Access(
        user_id=2,
        roles=frozenset({Role.FINANCE_STAFF}),
        employer_ids=frozenset(),
        partner_ids=frozenset(),
    )

    assert view.queryset.visible_to(ANONYMOUS_ACCESS).count() == 0
    assert view.queryset.visible_to(partner_viewer).count() == 0
    assert view.queryset.visible_to(finance_staff).count() == view.queryset.count() > 0
