"""The statements API: scoping (a partner viewer sees only their partner's statements, and
another partner's is a 404 on every route), the finance-only actions, the filters, and the
CSV and PDF exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zlib

import pytest

from accounts.models import Role
from ledger.models import (
    JournalEntry,
    Statement,
    StatementLine,
    StatementLineKind,
    StatementStatus,
)
from ledger.statement_export import months_ending_at, statement_monthly_series
from tests.api_assertions import assert_error
from tests.factories import EmployerFactory, user_with_role
from tests.ledger.conftest import OCTOBER, SEPTEMBER

pytestmark = pytest.mark.django_db

URL = "/api/v1/statements/"


@pytest.fixture
def finance(client_for):
    return client_for(user_with_role(Role.FINANCE_STAFF))


@pytest.fixture
def north_viewer(client_for, books):
    return client_for(user_with_role(Role.PARTNER_VIEWER, partner=books["north"]))


# --- the figures these tests rely on -------------------------------------------------------------


def test_the_generated_statement_has_the_expected_figures(books):
    statement = books["north_oct"]

    # lake: net 95,000, share 20% = 19,000, recoupment 10% = 9,500 (of 10,000 to repay);
    # hills: net 20,001, share 4,000.2 → 4,000
    assert (statement.recognized_cents, statement.refunds_cents) == (120_001, 5_000)
    assert (statement.net_cents, statement.share_cents) == (115_001, 23_000)
    assert (statement.recoupment_cents, statement.amount_due_cents) == (9_500, 32_500)


# --- scoping ------------------------------------------------------------------------------------


def test_partner_viewer_lists_only_their_partners_statements(north_viewer, books):
    body = north_viewer.get(URL).json()

    assert body["count"] == 1
    assert [row["id"] for row in body["results"]] == [books["north_oct"].id]
    assert body["results"][0]["partner_name"] == "Test Health North"
    assert body["results"][0]["period"] == "2026-10"


def test_partner_viewer_filtering_by_another_partner_gets_nothing(north_viewer, books):
    body = north_viewer.get(URL, {"partner": books["south"].id}).json()

    assert body["count"] == 0


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("get", ""),
        ("post", "approve/"),
        ("post", "payout/"),
        ("get", "export.csv"),
        ("get", "export.pdf"),
    ],
)
def test_partner_viewer_gets_404_for_another_partners_statement(
    north_viewer, books, method, suffix
):
    url = f"{URL}{books['south_oct'].id}/{suffix}"
    data = {"reference": "WIRE-1"} if suffix == "payout/" else None

    assert_error(getattr(north_viewer, method)(url, data), 404, "not_found")
    assert Statement.objects.get(pk=books["south_oct"].pk).status == StatementStatus.DRAFT


@pytest.mark.parametrize("suffix", ["", "export.csv", "export.pdf"])
def test_a_missing_statement_is_a_404(finance, suffix):
    assert_error(finance.get(f"{URL}999999/{suffix}"), 404, "not_found")


def test_finance_staff_list_every_statement(finance, books):
    body = finance.get(URL).json()

    ids = {row["id"] for row in body["results"]}
    assert {books["north_oct"].id, books["south_sep"].id, books["south_oct"].id} <= ids
    assert body["count"] == Statement.objects.count()


def test_the_list_is_paginated(finance, books):
    body = finance.get(URL, {"limit": 1}).json()

    assert body["count"] == Statement.objects.count()
    assert len(body["results"]) == 1
    assert body["next"]


@pytest.mark.parametrize("role", [Role.MEMBER, Role.EMPLOYER_ADMIN])
def test_other_roles_are_refused(client_for, books, role):
    employer = EmployerFactory() if role == Role.EMPLOYER_ADMIN else None
    client = client_for(user_with_role(role, employer=employer))

    assert_error(client.get(URL), 403, "permission_denied")
    assert_error(client.get(f"{URL}{books['north_oct'].id}/"), 403, "permission_denied")


def test_anonymous_callers_are_refused(api_client, books):
    assert_error(api_client.get(URL), 401, "not_authenticated")
    assert_error(
        api_client.get(f"{URL}{books['north_oct'].id}/export.csv"), 401, "not_authenticated"
    )


# --- detail ---------------------------------------------------------------------------------------


def test_partner_viewer_reads_their_statement_with_lines_and_totals(north_viewer, books):
    response = north_viewer.get(f"{URL}{books['north_oct'].id}/")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "draft"
    assert body["currency"] == "usd"
    lines = {line["market_name"]: line for line in body["lines"]}
    assert set(lines) == {"Test Lakeshore", "Test Hills"}
    lake = lines["Test Lakeshore"]
    assert lake["market_id"] == books["lake"].id
    assert lake["kind"] == "market"
    assert lake["adjusts_period"] is None
    assert (lake["recognized_cents"], lake["refunds_cents"], lake["net_cents"]) == (
        100_000,
        5_000,
        95_000,
    )
    assert (lake["share_cents"], lake["recoupment_cents"], lake["amount_cents"]) == (
        19_000,
        9_500,
        28_500,
    )
    assert {"active_members", "new_members", "churned_members"} <= set(lake)
    assert body["totals"]["amount_cents"] == body["amount_due_cents"] == 32_500
    assert body["totals"]["net_cents"] == 115_001


def test_adjustment_lines_show_the_period_they_correct(finance, books):
    statement = books["north_oct"]
    StatementLine.objects.create(
        statement=statement,
        kind=StatementLineKind.ADJUSTMENT,
        market=books["hills"],
        adjusts_period=SEPTEMBER,
        amount_cents=-250,
    )

    body = finance.get(f"{URL}{statement.id}/").json()

    assert body["lines"][-1]["kind"] == "adjustment"
    assert body["lines"][-1]["adjusts_period"] == "2026-09"
    assert body["lines"][-1]["amount_cents"] == -250


# --- approve and payout ---------------------------------------------------------------------------


def test_partner_viewer_cannot_approve_or_pay_their_own_statement(north_viewer, books):
    url = f"{URL}{books['north_oct'].id}/"

    assert_error(north_viewer.post(f"{url}approve/"), 403, "permission_denied")
    assert_error(north_viewer.post(f"{url}payout/", {"reference": "X"}), 403, "permission_denied")
    assert Statement.objects.get(pk=books["north_oct"].pk).status == StatementStatus.DRAFT


def test_finance_approves_once_then_it_is_a_conflict(finance, books):
    url = f"{URL}{books['north_oct'].id}/approve/"

    approved = finance.post(url)

    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == "approved"
    assert approved.json()["approved_at"]
    assert approved.json()["approved_by_id"] is not None
    assert len(approved.json()["lines"]) == 2
    assert JournalEntry.objects.filter(
        idempotency_key=f"statement:{books['north_oct'].id}:accrual"
    ).exists()
    assert_error(finance.post(url), 409, "conflict")


def test_operator_admin_may_approve(client_for, books):
    client = client_for(user_with_role(Role.OPERATOR_ADMIN))

    response = client.post(f"{URL}{books['south_oct'].id}/approve/")

    assert response.status_code == 200
    assert response.json()["status"] == "approved"


def test_payout_after_approval_marks_the_statement_paid(finance, books):
    url = f"{URL}{books['north_oct'].id}/"
    finance.post(f"{url}approve/")

    response = finance.post(f"{url}payout/", {"reference": "WIRE-2026-10-001"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "paid"
    assert body["payout_reference"] == "WIRE-2026-10-001"
    assert body["paid_at"]
    assert_error(finance.post(f"{url}payout/", {"reference": "again"}), 409, "conflict")


def test_payout_of_a_draft_is_a_conflict(finance, books):
    response = finance.post(f"{URL}{books['north_oct'].id}/payout/", {"reference": "WIRE-1"})

    assert_error(response, 409, "conflict")


def test_payout_needs_a_reference(finance, books):
    url = f"{URL}{books['north_oct'].id}/"
    finance.post(f"{url}approve/")

    error = assert_error(finance.post(f"{url}payout/", {}), 400, "invalid")

    assert "reference" in error["details"]
    assert Statement.objects.get(pk=books["north_oct"].pk).status == StatementStatus.APPROVED


# --- filters ---------------------------------------------------------------------------------


def test_filters(finance, books):
    def ids(**query):
        return {row["id"] for row in finance.get(URL, query).json()["results"]}

    north, south = books["north"], books["south"]
    assert ids(partner=south.id) == {books["south_sep"].id, books["south_oct"].id}
    assert ids(partner=south.id, period="2026-09") == {books["south_sep"].id}
    assert ids(partner=north.id, status="approved") == set()
    finance.post(f"{URL}{books['north_oct'].id}/approve/")
    assert ids(partner=north.id, status="approved") == {books["north_oct"].id}
    assert ids(period="2026-10", status="draft") >= {books["south_oct"].id}
    assert books["north_oct"].id not in ids(period="2026-10", status="draft")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"period": "2026-13"}, "period"),
        ({"period": "2026-1"}, "period"),
        ({"period": "October"}, "period"),
        ({"status": "lost"}, "status"),
        ({"partner": "north"}, "partner"),
        ({"partner": "0"}, "partner"),
    ],
)
def test_bad_filters_are_a_400(finance, books, query, field):
    error = assert_error(finance.get(URL, query), 400, "invalid")

    assert field in error["details"]
    assert error["details"][field][0]["message"]


# --- exports ---------------------------------------------------------------------------------


def test_csv_export(north_viewer, books):
    response = north_viewer.get(f"{URL}{books['north_oct'].id}/export.csv")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert (
        response["Content-Disposition"]
        == 'attachment; filename="statement-test-health-north-2026-10.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    by_market = {row["market"]: row for row in rows}
    assert set(by_market) == {"Test Lakeshore", "Test Hills", "Total"}
    lake = by_market["Test Lakeshore"]
    assert lake["market_id"] == str(books["lake"].id)
    assert lake["kind"] == "market"
    assert [
        int(lake[column])
        for column in (
            "recognized_cents",
            "refunds_cents",
            "net_cents",
            "share_cents",
            "recoupment_cents",
            "amount_cents",
        )
    ] == [100_000, 5_000, 95_000, 19_000, 9_500, 28_500]
    hills = by_market["Test Hills"]
    assert (int(hills["net_cents"]), int(hills["share_cents"]), int(hills["amount_cents"])) == (
        20_001,
        4_000,
        4_000,
    )
    total = rows[-1]
    assert total["market"] == "Total"
    assert int(total["amount_cents"]) == 32_500
    for column in ("recognized_cents", "refunds_cents", "net_cents", "amount_cents"):
        assert int(total[column]) == sum(int(row[column]) for row in rows[:-1])


def test_csv_export_shows_adjustment_lines(finance, books):
    StatementLine.objects.create(
        statement=books["south_oct"],
        kind=StatementLineKind.ADJUSTMENT,
        market=books["coast"],
        adjusts_period=SEPTEMBER,
        amount_cents=123,
    )

    response = finance.get(f"{URL}{books['south_oct'].id}/export.csv")

    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["kind"] for row in rows] == ["market", "adjustment", "total"]
    assert rows[1]["adjusts_period"] == "2026-09"
    assert rows[1]["amount_cents"] == "123"


def _pdf_text(pdf: bytes) -> bytes:
    """The page content streams, inflated."""
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.DOTALL)
    out = b""
    for stream in streams:
        try:
            out += zlib.decompress(stream)
        except zlib.error:
            out += stream
    return out


def test_pdf_export(north_viewer, books):
    response = north_viewer.get(f"{URL}{books['north_oct'].id}/export.pdf")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert (
        response["Content-Disposition"]
        == 'attachment; filename="statement-test-health-north-2026-10.pdf"'
    )
    pdf = response.content
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf)) == 1
    text = _pdf_text(pdf)
    for expected in (
        b"Test Health North",
        b"October 2026",
        b"Draft",
        b"Test Lakeshore",
        b"$325.00",
    ):
        assert expected in text, expected


def test_exports_ignore_accept_and_answer_errors_in_json(finance, books):
    url = f"{URL}{books['north_oct'].id}/export.csv"

    assert finance.get(url, HTTP_ACCEPT="text/csv").status_code == 200
    assert (
        finance.get(url.replace(".csv", ".pdf"), HTTP_ACCEPT="application/pdf").status_code == 200
    )
    assert_error(finance.get(f"{URL}999999/export.csv", HTTP_ACCEPT="text/csv"), 404, "not_found")


def test_the_chart_series_covers_the_twelve_months_ending_at_the_period(books):
    south = books["south"]
    Statement.objects.create(
        partner=south, period=dt.date(2025, 11, 1), net_cents=700, share_cents=70
    )
    Statement.objects.create(
        partner=south, period=dt.date(2025, 10, 1), net_cents=999, share_cents=99
    )
    Statement.objects.create(
        partner=books["north"], period=dt.date(2026, 3, 1), net_cents=5, share_cents=1
    )

    series = statement_monthly_series(statement=books["south_oct"])

    assert [month.period for month in series] == months_ending_at(OCTOBER)
    assert series[0].period == dt.date(2025, 11, 1)
    assert (series[0].net_cents, series[0].share_cents) == (700, 70)
    assert (series[-2].net_cents, series[-2].share_cents) == (10_000, 1_500)
    assert (series[-1].net_cents, series[-1].share_cents) == (12_000, 1_800)
    assert all(month.net_cents == 0 for month in series[1:-2])


def test_months_ending_at_crosses_the_year():
    months = months_ending_at(dt.date(2027, 2, 1))

    assert months[0] == dt.date(2026, 3, 1)
    assert months[-3:] == [dt.date(2026, 12, 1), dt.date(2027, 1, 1), dt.date(2027, 2, 1)]
    assert len(months) == 12
