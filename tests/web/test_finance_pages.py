"""The finance pages through Django's test client (session login): statements (list with
filters, the statement page with its lines, counts and chart, approve and payout with their
confirmation step), the ledger (balances as of a day, entries and their postings) and invoices
(search, detail, refund with confirmation). Lists run a fixed number of queries; other roles
get the 403 page; a POST without the confirmation acts on nothing; services' refusals are
messages, never a 500."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils.timezone import localtime

from accounts.models import Role, User
from billing.models import Invoice, InvoiceStatus, Payment, PaymentStatus, Refund, RefundStatus
from ledger import chart
from ledger.journal import Dimensions, debit_credit, journal_entry_post
from ledger.models import JournalEntry, Statement, StatementStatus
from ledger.statements import statement_approve
from tests.billing.factories import member_customer, member_invoice
from tests.factories import EmployerFactory, PartnerFactory, user_with_role
from tests.ledger import conftest as ledger_data
from web.finance_forms import dollars_to_cents

pytestmark = pytest.mark.django_db

books = ledger_data.books  # the ledger tests' fixture: two partners' October books
OCTOBER = ledger_data.OCTOBER

FINANCE_URLS = [
    "/finance/statements/",
    "/finance/statements/{statement}/",
    "/finance/statements/{statement}/approve/",
    "/finance/ledger/",
    "/finance/ledger/entries/",
    "/finance/ledger/entries/{entry}/",
    "/finance/invoices/",
    "/finance/invoices/{invoice}/",
]
FINANCE_POSTS = [
    "/finance/statements/{statement}/approve/",
    "/finance/statements/{statement}/payout/",
    "/finance/invoices/{invoice}/refund/",
]


@pytest.fixture
def finance_user() -> User:
    return user_with_role(Role.FINANCE_STAFF)


@pytest.fixture
def finance(client: Client, finance_user: User) -> Client:
    client.force_login(finance_user)
    return client


def text(response: Any) -> str:
    """The page's text with tags and runs of whitespace squeezed out."""
    body = response.content.decode()
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


class _TableRows(HTMLParser):
    """The body rows of the table with one id: each cell's text, nested tables' rows kept
    inside their cell (as text), not as rows of their own."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id = table_id
        self.depth = 0  # tables open inside the wanted one, itself included
        self.in_body = False
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and (self.depth or dict(attrs).get("id") == self.table_id):
            self.depth += 1
        elif self.depth == 1 and tag == "tbody":
            self.in_body = True
        elif self.depth == 1 and self.in_body and tag == "tr":
            self.rows.append([])
        elif self.depth == 1 and self.in_body and tag in {"td", "th"}:
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.depth:
            self.depth -= 1
        elif self.depth == 1 and tag == "tbody":
            self.in_body = False
        elif self.depth == 1 and tag in {"td", "th"} and self.cell is not None:
            self.rows[-1].append(re.sub(r"\s+", " ", "".join(self.cell)).strip())
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def table_rows(response: Any, table_id: str) -> list[list[str]]:
    """The text of each body row's cells of the table with this id."""
    body = response.content.decode()
    assert f'id="{table_id}"' in body, f"no table {table_id}"
    parser = _TableRows(table_id)
    parser.feed(body)
    return parser.rows


def paid_invoice(*, number: str = "INV-0001") -> Invoice:
    """A member's invoice of $9.00 + $15.00 paid by card (the payment as the Stripe rail would
    have recorded it)."""
    invoice = member_invoice(member_customer(), 900, 1500)
    Invoice.objects.filter(pk=invoice.pk).update(
        status=InvoiceStatus.PAID, amount_paid_cents=2400, number=number
    )
    Payment.objects.create(
        invoice=invoice,
        status=PaymentStatus.SUCCEEDED,
        amount_cents=2400,
        currency="usd",
        stripe_payment_intent_id=f"pi_test_{invoice.pk}",
        stripe_charge_id=f"ch_test_{invoice.pk}",
    )
    invoice.refresh_from_db()
    return invoice


def count_queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


# --- money input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "cents"),
    [("12.5", 1250), ("12.50", 1250), ("$1,234.05", 123405), ("7", 700), ("0.01", 1)],
)
def test_dollars_are_converted_to_cents_exactly(typed, cents):
    assert dollars_to_cents(typed) == cents


@pytest.mark.parametrize("typed", ["", "1.234", "-5", "abc", "1e3", "12.", " . "])
def test_anything_else_is_not_an_amount(typed):
    with pytest.raises(ValueError):  # noqa: PT011
        dollars_to_cents(typed)


def test_a_large_amount_converts_without_float_rounding():
    assert dollars_to_cents("9999999999.99") == 999_999_999_999


# --- who may open the pages ----------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.MEMBER, Role.EMPLOYER_ADMIN, Role.PARTNER_VIEWER])
def test_other_roles_get_the_403_page_on_every_finance_page(client, books, role):
    scope: dict[str, Any] = {}
    if role == Role.EMPLOYER_ADMIN:
        scope["employer"] = EmployerFactory()
    if role == Role.PARTNER_VIEWER:
        scope["partner"] = books["north"]
    client.force_login(user_with_role(role, **scope))
    ids = {
        "statement": books["north_oct"].pk,
        "entry": JournalEntry.objects.order_by("id")[0].pk,
        "invoice": paid_invoice().pk,
    }

    for url in FINANCE_URLS:
        response = client.get(url.format(**ids))
        assert response.status_code == 403, url
        assert "Not allowed" in text(response)
    for url in FINANCE_POSTS:
        data = {
            "confirmed": "yes",
            "reference": "W-1",
            "payment_id": 1,
            "amount": "1",
            "reason": "x",
        }
        assert client.post(url.format(**ids), data).status_code == 403, url

    assert Statement.objects.get(pk=books["north_oct"].pk).status == StatementStatus.DRAFT
    assert not Refund.objects.exists()


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get("/finance/statements/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_finance_navigation_links_and_home(finance):
    response = finance.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/finance/statements/"
    page = finance.get("/finance/ledger/")
    for label, url in [
        ("Statements", "/finance/statements/"),
        ("Ledger", "/finance/ledger/"),
        ("Invoices", "/finance/invoices/"),
    ]:
        assert f'href="{url}"' in page.content.decode()
        assert label in text(page)


def test_operator_admins_open_the_finance_pages(client, books):
    client.force_login(user_with_role(Role.OPERATOR_ADMIN))
    assert client.get("/finance/statements/").status_code == 200


# --- statements list -----------------------------------------------------------------------------


def test_the_statement_list_shows_every_statement_with_its_figures(finance, books):
    response = finance.get("/finance/statements/")

    assert response.status_code == 200
    rows = table_rows(response, "statements")
    assert rows == [
        ["Test Health North", "2026-10", "Draft", "$1,150.01", "$230.00", "$325.00"],
        ["Test Health South", "2026-10", "Draft", "$120.00", "$18.00", "$18.00"],
        ["Test Health South", "2026-09", "Draft", "$100.00", "$15.00", "$15.00"],
    ]
    assert f'href="/finance/statements/{books["north_oct"].pk}/"' in response.content.decode()


def test_the_statement_list_filters_by_partner_period_and_status(finance, books, finance_user):
    statement_approve(statement=books["south_sep"], actor=finance_user)

    by_partner = finance.get("/finance/statements/", {"partner": books["south"].pk})
    by_period = finance.get("/finance/statements/", {"period": "2026-09", "partner": ""})
    by_status = finance.get("/finance/statements/", {"status": "approved"})
    drafts_in_october = finance.get(
        "/finance/statements/", {"status": "draft", "period": "2026-10"}
    )

    assert [r[:2] for r in table_rows(by_partner, "statements")] == [
        ["Test Health South", "2026-10"],
        ["Test Health South", "2026-09"],
    ]
    assert [r[:3] for r in table_rows(by_period, "statements")] == [
        ["Test Health South", "2026-09", "Approved"]
    ]
    assert [r[:3] for r in table_rows(by_status, "statements")] == [
        ["Test Health South", "2026-09", "Approved"]
    ]
    assert [r[0] for r in table_rows(drafts_in_october, "statements")] == [
        "Test Health North",
        "Test Health South",
    ]


def test_a_bad_filter_is_explained_not_a_500(finance, books):
    response = finance.get("/finance/statements/", {"period": "October", "status": "lost"})

    assert response.status_code == 200
    assert "Period: Give a month as YYYY-MM, e.g. 2026-10." in text(response)
    assert "Status:" in text(response)


def test_the_statement_list_runs_a_fixed_number_of_queries_and_paginates(finance, books):
    few = count_queries(finance, "/finance/statements/")
    for n in range(30):
        partner = PartnerFactory(name=f"Partner {n:02d}")
        Statement.objects.create(partner=partner, period=OCTOBER, net_cents=n * 100)
    many = count_queries(finance, "/finance/statements/")
    second = finance.get("/finance/statements/", {"page": 2, "period": "2026-10"})

    assert many == few
    assert len(table_rows(finance.get("/finance/statements/"), "statements")) == 25
    assert "Page 2 of 2 (32 in all)" in text(second)
    assert len(table_rows(second, "statements")) == 7
    assert "period=2026-10" in second.content.decode()  # the links keep the filters


# --- the statement page --------------------------------------------------------------------------


def test_the_statement_page_shows_lines_per_market_totals_and_member_counts(finance, books):
    response = finance.get(f"/finance/statements/{books['north_oct'].pk}/")

    assert response.status_code == 200
    page = text(response)
    assert "Statement: Test Health North, October 2026" in page
    assert table_rows(response, "market-lines") == [
        # lake: net 950.00, share 20% = 190.00, recoupment 10% = 95.00
        [
            "Test Lakeshore",
            "$1,000.00",
            "$50.00",
            "$950.00",
            "$190.00",
            "$95.00",
            "$285.00",
            "0",
            "0",
            "0",
        ],
        ["Test Hills", "$200.01", "$0.00", "$200.01", "$40.00", "$0.00", "$40.00", "0", "0", "0"],
    ]
    assert re.search(r"Amount due \$325\.00", page)
    assert re.search(r"Active members 0 New members 0 Churned members 0", page)
    body = response.content.decode()
    assert body.count("<h1>") == 1


def test_the_statement_page_draws_the_12_months_the_pdf_uses(finance, books):
    response = finance.get(f"/finance/statements/{books['south_oct'].pk}/")
    body = response.content.decode()

    svg = re.search(r"<svg .*?</svg>", body, re.S)
    assert svg
    assert 'role="img"' in svg.group(0)
    assert '<title id="chart-title">Test Health South: net basis and partner share' in svg.group(0)
    bars = re.findall(r'<rect class="bar"[^>]*><title>([^<]*)</title>', svg.group(0))
    assert bars == [
        "Net basis Sep 2026: $100.00",
        "Partner share Sep 2026: $15.00",
        "Net basis Oct 2026: $120.00",
        "Partner share Oct 2026: $18.00",
    ]
    data = table_rows(response, "chart-data")
    assert len(data) == 12
    assert data[0] == ["2025-11", "$0.00", "$0.00"]
    assert data[-2:] == [["2026-09", "$100.00", "$15.00"], ["2026-10", "$120.00", "$18.00"]]


def test_a_draft_offers_approve_and_the_downloads(finance, books):
    statement = books["north_oct"]
    body = finance.get(f"/finance/statements/{statement.pk}/").content.decode()

    assert f'action="/finance/statements/{statement.pk}/approve/"' in body
    assert "Record payout" not in body
    assert f'href="/api/v1/statements/{statement.pk}/export.csv"' in body
    assert f'href="/api/v1/statements/{statement.pk}/export.pdf"' in body


def test_the_csv_download_works_with_the_finance_session(finance, books):
    response = finance.get(f"/api/v1/statements/{books['north_oct'].pk}/export.csv")

    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert [row[1] for row in rows[1:]] == ["Test Lakeshore", "Test Hills", "Total"]


def test_a_missing_statement_is_a_404(finance):
    assert finance.get("/finance/statements/999999/").status_code == 404


def test_approve_without_the_confirmation_only_asks(finance, books):
    statement = books["north_oct"]

    response = finance.post(f"/finance/statements/{statement.pk}/approve/")

    assert response.status_code == 200
    assert "Approve this statement?" in text(response)
    assert 'name="confirmed" value="yes"' in response.content.decode()
    statement.refresh_from_db()
    assert statement.status == StatementStatus.DRAFT
    assert not JournalEntry.objects.filter(kind="revenue_share_accrual").exists()


def test_approve_with_the_confirmation_approves_through_the_service(finance, books, finance_user):
    statement = books["north_oct"]

    response = finance.post(
        f"/finance/statements/{statement.pk}/approve/", {"confirmed": "yes"}, follow=True
    )

    assert response.redirect_chain == [(f"/finance/statements/{statement.pk}/", 302)]
    statement.refresh_from_db()
    assert statement.status == StatementStatus.APPROVED
    assert statement.approved_by == finance_user
    accrual = JournalEntry.objects.get(idempotency_key=f"statement:{statement.pk}:accrual")
    assert sum(p.amount_cents for p in accrual.postings.all() if p.amount_cents > 0) == 32_500
    assert "Statement approved" in text(response)
    assert '<span class="status status-approved" id="statement-status">approved</span>' in (
        response.content.decode()
    )
    assert 'name="reference"' in response.content.decode()  # payout offered now


def test_approving_twice_shows_the_services_refusal(finance, books, finance_user):
    statement = statement_approve(statement=books["north_oct"], actor=finance_user)

    response = finance.post(
        f"/finance/statements/{statement.pk}/approve/", {"confirmed": "yes"}, follow=True
    )

    assert response.status_code == 200
    assert "Not approved: A approved statement cannot become approved." in text(response)
    assert JournalEntry.objects.filter(kind="revenue_share_accrual").count() == 1


def test_payout_asks_then_records_with_the_reference(finance, books, finance_user):
    statement = statement_approve(statement=books["south_sep"], actor=finance_user)
    url = f"/finance/statements/{statement.pk}/payout/"

    asked = finance.post(url, {"reference": "WIRE-2026-77"})
    statement.refresh_from_db()
    assert asked.status_code == 200
    assert "Record this payout?" in text(asked)
    assert "WIRE-2026-77" in text(asked)
    assert statement.status == StatementStatus.APPROVED

    done = finance.post(url, {"reference": "WIRE-2026-77", "confirmed": "yes"}, follow=True)
    statement.refresh_from_db()
    assert statement.status == StatementStatus.PAID
    assert statement.payout_reference == "WIRE-2026-77"
    assert "Payout recorded (reference WIRE-2026-77)." in text(done)


def test_payout_of_a_draft_or_without_a_reference_is_refused_with_a_message(finance, books):
    statement = books["south_sep"]
    url = f"/finance/statements/{statement.pk}/payout/"

    no_reference = finance.post(url, {"reference": " ", "confirmed": "yes"}, follow=True)
    draft = finance.post(url, {"reference": "WIRE-1", "confirmed": "yes"}, follow=True)

    assert "Payout reference: This field may not be blank." in text(no_reference)
    assert "Payout not recorded: A draft statement cannot become paid." in text(draft)
    statement.refresh_from_db()
    assert statement.status == StatementStatus.DRAFT


# --- ledger --------------------------------------------------------------------------------------


def test_the_ledger_page_shows_balances_as_of_a_day(finance, books):
    october = finance.get("/finance/ledger/", {"as_of": "2026-10-31"})
    september = finance.get("/finance/ledger/", {"as_of": "2026-09-30"})

    def revenue(response: Any) -> list[str]:
        rows = table_rows(response, "balances")
        return next(row for row in rows if row[0] == chart.MEMBERSHIP_REVENUE)

    # recognized: 600 + 400 + 200.01 + 100 + 120 dollars by the end of October
    assert revenue(october)[3:] == ["$1,420.01", "-$1,420.01"]
    assert revenue(september)[3:] == ["$100.00", "-$100.00"]
    assert "Sum of all accounts (a balanced ledger sums to zero) $0.00" in text(october)
    assert (
        f'href="/finance/ledger/entries/?account={quote(chart.MEMBERSHIP_REVENUE, safe="")}'
        '&amp;to=2026-10-31"' in october.content.decode()
    )


def test_a_bad_date_on_the_ledger_page_is_explained(finance, books):
    response = finance.get("/finance/ledger/", {"as_of": "yesterday"})

    assert response.status_code == 200
    assert "As of: Date has wrong format." in text(response)


def test_the_entries_list_filters_and_shows_postings(finance, books):
    lake = books["lake"]
    url = "/finance/ledger/entries/"

    by_market = finance.get(url, {"market": lake.pk, "account": chart.MEMBERSHIP_REVENUE})
    by_dates = finance.get(
        url, {"partner": books["south"].pk, "from": "2026-09-01", "to": "2026-09-30"}
    )
    refunds = finance.get(url, {"account": chart.REFUNDS_CREDITS})

    assert [row[1:3] for row in table_rows(by_market, "entries")][:2] == [
        ["2026-10-20", "test"],
        ["2026-10-03", "test"],
    ]
    assert len(table_rows(by_market, "entries")) >= 2
    assert [row[1] for row in table_rows(by_dates, "entries")] == ["2026-09-09"]
    body = refunds.content.decode()
    assert "<summary>2 postings</summary>" in body
    assert "Test Lakeshore (" in text(refunds)
    assert "$50.00" in text(refunds)


def test_the_entries_list_runs_a_fixed_number_of_queries(finance, books):
    few = count_queries(finance, "/finance/ledger/entries/")
    market = books["coast"]
    for n in range(10):
        journal_entry_post(
            idempotency_key=f"test-web-entries:{n}",
            kind="test",
            occurred_on=dt.date(2026, 8, 1),
            postings=debit_credit(
                debit=chart.account_get(chart.DEFERRED_REVENUE),
                credit=chart.account_get(chart.MEMBERSHIP_REVENUE),
                amount_cents=100 + n,
                dimensions=Dimensions(partner_id=market.partner_id, market_id=market.pk),
            ),
        )
    assert count_queries(finance, "/finance/ledger/entries/") == few


def test_an_entry_page_shows_its_postings_and_dimensions(finance, books):
    entry = JournalEntry.objects.get(idempotency_key="test-statement-api:lake-refund")

    response = finance.get(f"/finance/ledger/entries/{entry.pk}/")

    assert response.status_code == 200
    page = text(response)
    assert f"Journal entry #{entry.pk}" in page
    assert "2026-10-21" in page
    postings = table_rows(response, "postings")
    assert sorted(row[:3] for row in postings) == [
        [chart.CASH_STRIPE, "", "$50.00"],
        [chart.REFUNDS_CREDITS, "$50.00", ""],
    ]
    lake, north = books["lake"], books["north"]
    assert {tuple(row[3:5]) for row in postings} == {
        (f"{north.name} ({north.pk})", f"{lake.name} ({lake.pk})")
    }


# --- invoices ------------------------------------------------------------------------------------


def test_the_invoice_list_searches_by_email_number_and_status(finance):
    paid = paid_invoice(number="INV-0042")
    other = paid_invoice(number="INV-0099")
    draft = member_invoice(member_customer(), 500)

    by_number = finance.get("/finance/invoices/", {"search": "0042"})
    by_email = finance.get("/finance/invoices/", {"search": other.customer.email.upper()})
    by_status = finance.get("/finance/invoices/", {"status": "paid"})

    assert [row[0] for row in table_rows(by_number, "invoices")] == [f"INV-0042 #{paid.pk}"]
    assert [row[1] for row in table_rows(by_email, "invoices")] == [other.customer.email]
    assert {row[0] for row in table_rows(by_status, "invoices")} == {
        f"INV-0042 #{paid.pk}",
        f"INV-0099 #{other.pk}",
    }
    assert table_rows(by_number, "invoices")[0][2:] == [
        "Paid",
        localtime(paid.created_at).strftime("%Y-%m-%d"),
        "$24.00",
        "$24.00",
    ]
    assert draft.pk not in {int(r[0].split("#")[1]) for r in table_rows(by_status, "invoices")}


def test_the_invoice_list_runs_a_fixed_number_of_queries(finance):
    paid_invoice(number="INV-1")
    few = count_queries(finance, "/finance/invoices/")
    for n in range(5):
        paid_invoice(number=f"INV-{n + 2}")
    assert count_queries(finance, "/finance/invoices/") == few


def test_the_invoice_page_shows_lines_payments_and_a_refund_form(finance):
    invoice = paid_invoice()

    response = finance.get(f"/finance/invoices/{invoice.pk}/")

    assert response.status_code == 200
    assert [row[0] for row in table_rows(response, "invoice-lines")] == [
        "Membership part 1",
        "Membership part 2",
    ]
    assert [row[-1] for row in table_rows(response, "invoice-lines")] == ["$9.00", "$15.00"]
    page = text(response)
    assert f"Payment #{invoice.payments.get().pk}: $24.00, succeeded" in page
    assert "Refundable $24.00" in page
    assert 'label for="refund-amount-' in response.content.decode()
    assert "Amount in dollars (e.g. 12.50)" in page


def test_a_refund_without_the_confirmation_only_asks(finance):
    invoice = paid_invoice()
    payment = invoice.payments.get()

    response = finance.post(
        f"/finance/invoices/{invoice.pk}/refund/",
        {"payment_id": payment.pk, "amount": "5.25", "reason": "missed visit"},
    )

    assert response.status_code == 200
    assert "Refund $5.25?" in text(response)
    assert "(525 cents)" in text(response)
    assert not Refund.objects.exists()


def test_a_confirmed_refund_goes_through_the_service(finance, finance_user):
    invoice = paid_invoice()
    payment = invoice.payments.get()

    response = finance.post(
        f"/finance/invoices/{invoice.pk}/refund/",
        {"payment_id": payment.pk, "amount": "5.25", "reason": "missed visit", "confirmed": "yes"},
        follow=True,
    )

    assert response.redirect_chain == [(f"/finance/invoices/{invoice.pk}/", 302)]
    refund = Refund.objects.get()
    assert (refund.payment_id, refund.amount_cents, refund.reason) == (
        payment.pk,
        525,
        "missed visit",
    )
    assert refund.status == RefundStatus.PENDING
    assert refund.created_by == finance_user
    page = text(response)
    assert "Refund of $5.25 queued for Stripe" in page
    assert "Refundable $18.75" in page
    assert "missed visit" in page


def test_the_confirmation_sent_twice_refunds_once(finance):
    invoice = paid_invoice()
    payment = invoice.payments.get()
    form = {"payment_id": payment.pk, "amount": "5.25", "reason": "missed visit"}
    asked = finance.post(f"/finance/invoices/{invoice.pk}/refund/", form)
    assert 'name="refundable_seen" value="2400"' in asked.content.decode()
    confirmed = {**form, "confirmed": "yes", "refundable_seen": "2400"}

    finance.post(f"/finance/invoices/{invoice.pk}/refund/", confirmed)
    again = finance.post(f"/finance/invoices/{invoice.pk}/refund/", confirmed, follow=True)

    assert Refund.objects.get().amount_cents == 525
    assert "No refund: the payment changed since the confirmation page was shown" in text(again)


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("24.01", "No refund: A refund must be between 1 and 2400 cents."),
        ("5.255", "No refund: Amount in dollars (e.g. 12.50): Give the amount in dollars"),
        ("0", "No refund: Amount in dollars (e.g. 12.50): Ensure this value is greater than"),
        ("", "No refund: Amount in dollars (e.g. 12.50): This field is required."),
    ],
)
def test_a_refused_refund_is_a_message(finance, amount, message):
    invoice = paid_invoice()
    payment = invoice.payments.get()

    response = finance.post(
        f"/finance/invoices/{invoice.pk}/refund/",
        {"payment_id": payment.pk, "amount": amount, "reason": "x", "confirmed": "yes"},
        follow=True,
    )

    assert response.status_code == 200
    assert message in text(response)
    assert not Refund.objects.exists()


def test_an_unpaid_invoice_cannot_be_refunded(finance):
    invoice = member_invoice(member_customer(), 900)
    payment = Payment.objects.create(
        invoice=invoice, status=PaymentStatus.FAILED, amount_cents=900, currency="usd"
    )

    page = finance.get(f"/finance/invoices/{invoice.pk}/")
    response = finance.post(
        f"/finance/invoices/{invoice.pk}/refund/",
        {"payment_id": payment.pk, "amount": "1", "reason": "x", "confirmed": "yes"},
        follow=True,
    )

    assert "Refund…" not in text(page)
    assert "No refund: Only a succeeded card payment can be refunded." in text(response)
    assert not Refund.objects.exists()


def test_another_invoices_payment_is_refused(finance):
    invoice = paid_invoice(number="INV-A")
    other = paid_invoice(number="INV-B")

    response = finance.post(
        f"/finance/invoices/{invoice.pk}/refund/",
        {"payment_id": other.payments.get().pk, "amount": "1", "reason": "x", "confirmed": "yes"},
        follow=True,
    )

    assert f"is not a payment of invoice {invoice.pk}" in text(response)
    assert not Refund.objects.exists()
