"""The ledger in the Django admin: finance staff (and operators, superusers) read every ledger
page; nobody adds, changes or deletes the books; agreements are editable with form errors for
bad windows; the "approve" action goes through statement_approve; everyone else is refused,
whatever `is_staff` and Django model permissions say; list pages take a fixed number of
queries whatever the number of rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Role, User
from billing.models import InvoiceLine
from config.errors import ConflictError
from ledger import admin as ledger_admin
from ledger import chart
from ledger.journal import Dimensions, debit_credit, journal_entry_post
from ledger.models import (
    JournalEntry,
    Posting,
    RevenueSchedule,
    RevenueShareAgreement,
    Statement,
    StatementStatus,
)
from ledger.services import ledger_invoice_finalized
from ledger.statements import statement_approve, statement_payout_record
from memberships.models import Market
from tests.billing.factories import member_customer, member_invoice
from tests.factories import EmployerFactory, PartnerFactory, UserFactory, user_with_role

pytestmark = pytest.mark.django_db

MODELS = [
    "account",
    "journalentry",
    "posting",
    "revenueschedule",
    "revenueshareagreement",
    "statement",
]
READ_ONLY_MODELS = ["account", "journalentry", "posting", "revenueschedule", "statement"]


def url(model: str, view: str, *args: object) -> str:
    return reverse(f"admin:ledger_{model}_{view}", args=args)


@pytest.fixture
def admin_as() -> Callable[[User], Client]:
    """A Django test client logged in (session) as `user`."""

    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def finance_user() -> User:
    return user_with_role(Role.FINANCE_STAFF, is_staff=True)


@pytest.fixture
def finance(admin_as: Callable[[User], Client], finance_user: User) -> Client:
    return admin_as(finance_user)


@pytest.fixture
def superuser() -> User:
    return UserFactory.create(is_staff=True, is_superuser=True)


@pytest.fixture
def ledger_rows(books) -> dict[str, Any]:
    """One object of each ledger model: the statement books, plus a finalized member invoice
    (which gives a revenue schedule)."""
    invoice = member_invoice(member_customer(), 9900)
    entry = ledger_invoice_finalized(invoice=invoice)
    assert entry is not None
    return {
        "account": chart.account_get(chart.DEFERRED_REVENUE),
        "journalentry": entry,
        "posting": entry.postings.order_by("id").first(),
        "revenueschedule": RevenueSchedule.objects.get(invoice_line__invoice=invoice),
        "revenueshareagreement": RevenueShareAgreement.objects.filter(
            partner=books["north"]
        ).first(),
        "statement": books["north_oct"],
    }


def approve(client: Client, *statements: Statement) -> tuple[int, list[tuple[str, str]]]:
    """Run the admin's approve action; its status code and the (level, text) messages."""
    response = client.post(
        url("statement", "changelist"),
        {"action": "approve", "_selected_action": [s.pk for s in statements], "index": 0},
    )
    return response.status_code, [
        (m.level_tag, str(m)) for m in get_messages(response.wsgi_request)
    ]


# --- who may see the ledger -------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("who", ["finance", "operator", "superuser"])
def test_finance_operators_and_superusers_see_every_ledger_page(
    admin_as, superuser, ledger_rows, model, who
):
    user = {
        "finance": lambda: user_with_role(Role.FINANCE_STAFF, is_staff=True),
        "operator": lambda: user_with_role(Role.OPERATOR_ADMIN, is_staff=True),
        "superuser": lambda: superuser,
    }[who]()
    client = admin_as(user)

    listed = client.get(url(model, "changelist"))
    shown = client.get(url(model, "change", ledger_rows[model].pk))

    assert listed.status_code == 200
    assert shown.status_code == 200
    assert listed.context["cl"].result_count >= 1
    action_form = listed.context["action_form"]  # None when the page has no action at all
    actions = dict(action_form.fields["action"].choices) if action_form else {}
    assert set(actions) - {""} == ({"approve"} if model == "statement" else set())


def test_the_admin_index_lists_the_ledger_for_finance(finance):
    page = finance.get(reverse("admin:index")).content.decode()

    for model in MODELS:
        assert url(model, "changelist") in page
    assert reverse("admin:accounts_user_changelist") not in page  # no role gives them that


@pytest.mark.parametrize("role", [Role.MEMBER, Role.PARTNER_VIEWER, Role.EMPLOYER_ADMIN])
def test_other_roles_are_refused_even_with_is_staff_and_model_permissions(
    admin_as, ledger_rows, books, role
):
    scope = {
        Role.PARTNER_VIEWER: {"partner": books["north"]},
        Role.EMPLOYER_ADMIN: {"employer": EmployerFactory.create()},
    }.get(role, {})
    user = user_with_role(role, is_staff=True, **scope)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="ledger", codename__startswith="view_")
    )
    client = admin_as(user)

    assert reverse("admin:app_list", args=["ledger"]) not in client.get("/admin/").content.decode()
    for model in MODELS:
        assert client.get(url(model, "changelist")).status_code == 403
        assert client.get(url(model, "change", ledger_rows[model].pk)).status_code == 403
    assert approve(client, books["north_oct"])[0] == 403
    assert Statement.objects.get(pk=books["north_oct"].pk).status == StatementStatus.DRAFT


def test_finance_staff_without_is_staff_are_sent_to_the_login_page(admin_as, ledger_rows):
    client = admin_as(user_with_role(Role.FINANCE_STAFF))  # is_staff opens the admin site

    response = client.get(url("posting", "changelist"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


# --- the books are read-only ------------------------------------------------------------------


@pytest.mark.parametrize("model", READ_ONLY_MODELS)
@pytest.mark.parametrize("who", ["finance", "superuser"])
def test_nobody_adds_changes_or_deletes_the_books(
    admin_as, finance_user, superuser, ledger_rows, model, who
):
    client = admin_as(finance_user if who == "finance" else superuser)
    obj = ledger_rows[model]

    listed = client.get(url(model, "changelist")).content.decode()
    shown = client.get(url(model, "change", obj.pk)).content.decode()

    assert url(model, "add") not in listed
    assert 'name="_save"' not in shown
    assert url(model, "delete", obj.pk) not in shown
    assert client.get(url(model, "add")).status_code == 403
    assert client.post(url(model, "add"), {}).status_code == 403
    assert client.post(url(model, "change", obj.pk), {}).status_code == 403
    assert client.get(url(model, "delete", obj.pk)).status_code == 403
    assert client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert type(obj).objects.filter(pk=obj.pk).exists()


def test_a_posting_change_post_changes_nothing(finance, ledger_rows):
    posting = ledger_rows["posting"]

    response = finance.post(
        url("posting", "change", posting.pk), {"amount_cents": 1, "account": posting.account_id}
    )

    assert response.status_code == 403
    assert Posting.objects.get(pk=posting.pk).amount_cents == posting.amount_cents


def test_amounts_show_as_money(finance, books):
    postings = finance.get(url("posting", "changelist"), {"q": "test-statement-api:lake-1"})
    statement = finance.get(url("statement", "change", books["north_oct"].pk))
    entry = JournalEntry.objects.get(idempotency_key="test-statement-api:lake-1")

    assert "$600.00" in postings.content.decode()
    assert "-$600.00" in postings.content.decode()
    assert "$325.00" in statement.content.decode()  # amount due
    assert "$285.00" in statement.content.decode()  # the Lakeshore line
    assert "-$600.00" in finance.get(url("journalentry", "change", entry.pk)).content.decode()


def test_filters_and_search(finance, books):
    lake = books["lake"]

    by_market = finance.get(url("posting", "changelist"), {"market__id__exact": lake.pk})
    by_type = finance.get(url("account", "changelist"), {"type__exact": "contra_revenue"})
    by_key = finance.get(url("journalentry", "changelist"), {"q": "lake-refund"})

    assert by_market.context["cl"].result_count == 6  # two recognitions and a refund, 2 each
    assert [a.code for a in by_type.context["cl"].result_list] == [chart.REFUNDS_CREDITS]
    assert [e.idempotency_key for e in by_key.context["cl"].result_list] == [
        "test-statement-api:lake-refund"
    ]


# --- statements: the approve action -----------------------------------------------------------


def test_the_approve_action_approves_a_draft_and_posts_the_accrual(finance, finance_user, books):
    statement = books["north_oct"]

    status, messages = approve(finance, statement)

    assert status == 302
    approved = Statement.objects.get(pk=statement.pk)
    assert approved.status == StatementStatus.APPROVED
    assert approved.approved_by == finance_user
    entry = JournalEntry.objects.get(idempotency_key=f"statement:{statement.pk}:accrual")
    payable = chart.partner_payable_account(books["north"])
    assert -sum(entry.postings.filter(account=payable).values_list("amount_cents", flat=True)) == (
        32_500
    )
    assert messages == [
        (
            "success",
            "Statement of Test Health North for 2026-10 approved: $325.00 accrued to the "
            "partner's payable account.",
        )
    ]


def test_the_approve_action_skips_approved_and_paid_statements(finance, finance_user, books):
    statement_approve(statement=books["south_sep"], actor=finance_user)
    statement_payout_record(statement=books["south_sep"], actor=finance_user, reference="W-1")
    statement_approve(statement=books["south_oct"], actor=finance_user)
    entries = JournalEntry.objects.count()

    status, messages = approve(finance, books["north_oct"], books["south_sep"], books["south_oct"])

    assert status == 302
    assert Statement.objects.get(pk=books["north_oct"].pk).status == StatementStatus.APPROVED
    assert Statement.objects.get(pk=books["south_sep"].pk).status == StatementStatus.PAID
    assert JournalEntry.objects.count() == entries + 1  # north's accrual only
    assert messages[0] == (
        "warning",
        "Statement of Test Health South for 2026-09 skipped: it is already paid.",
    )
    assert messages[1] == (
        "success",
        "Statement of Test Health North for 2026-10 approved: $325.00 accrued to the "
        "partner's payable account.",
    )
    assert messages[2] == (
        "warning",
        "Statement of Test Health South for 2026-10 skipped: it is already approved.",
    )


def test_the_approve_action_reports_the_services_error_and_goes_on(finance, books, monkeypatch):

    def approve_or_refuse(*, statement, actor):
        if statement.pk == books["south_oct"].pk:
            raise ConflictError("A approved statement cannot become approved.")
        return statement_approve(statement=statement, actor=actor)

    monkeypatch.setattr(ledger_admin, "statement_approve", approve_or_refuse)

    _, messages = approve(finance, books["north_oct"], books["south_oct"])

    assert (
        "error",
        "Statement of Test Health South for 2026-10 not approved: A approved "
        "statement cannot become approved.",
    ) in messages
    assert Statement.objects.get(pk=books["north_oct"].pk).status == StatementStatus.APPROVED
    assert Statement.objects.get(pk=books["south_oct"].pk).status == StatementStatus.DRAFT


def test_operator_admins_may_approve(admin_as, books):
    client = admin_as(user_with_role(Role.OPERATOR_ADMIN, is_staff=True))

    assert approve(client, books["south_oct"])[0] == 302
    assert Statement.objects.get(pk=books["south_oct"].pk).status == StatementStatus.APPROVED


# --- agreements are finance's to edit ---------------------------------------------------------


def agreement_form(
    agreement: RevenueShareAgreement | None = None, **changes: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "partner": "",
        "market": "",
        "share_bps": 2000,
        "recoupment_total_cents": 0,
        "recoupment_rate_bps": 0,
        "effective_from": "2027-01-01",
        "effective_until": "",
    }
    if agreement is not None:
        data |= {
            "partner": agreement.partner_id,
            "market": agreement.market_id,
            "share_bps": agreement.share_bps,
            "recoupment_total_cents": agreement.recoupment_total_cents,
            "recoupment_rate_bps": agreement.recoupment_rate_bps,
            "effective_from": agreement.effective_from.isoformat(),
            "effective_until": (
                agreement.effective_until.isoformat() if agreement.effective_until else ""
            ),
        }
    return data | changes


def test_finance_adds_and_edits_an_agreement(finance, books):
    lake = books["lake"]
    current = RevenueShareAgreement.objects.get(market=lake)
    ended = finance.post(
        url("revenueshareagreement", "change", current.pk),
        agreement_form(current, effective_until="2027-01-01"),
    )

    added = finance.post(
        url("revenueshareagreement", "add"),
        agreement_form(partner=lake.partner_id, market=lake.pk, share_bps=2500),
    )

    assert (ended.status_code, added.status_code) == (302, 302)
    windows = RevenueShareAgreement.objects.filter(market=lake).order_by("effective_from")
    assert [(a.share_bps, a.effective_from, a.effective_until) for a in windows] == [
        (2000, dt.date(2026, 1, 1), dt.date(2027, 1, 1)),
        (2500, dt.date(2027, 1, 1), None),
    ]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"effective_from": "2026-06-01"}, "effective_from", "Overlaps agreement #"),
        ({"share_bps": 10001}, "share_bps", "less than or equal to 10000"),
        ({"recoupment_rate_bps": -1}, "recoupment_rate_bps", "greater than or equal to 0"),
        ({"recoupment_total_cents": -5}, "recoupment_total_cents", "greater than or equal to 0"),
        (
            {"effective_from": "2027-03-01", "effective_until": "2027-02-01"},
            "effective_until",
            "Must be after the start",
        ),
    ],
)
def test_a_bad_agreement_is_a_form_error(finance, books, changes, field, message):
    lake = books["lake"]
    before = RevenueShareAgreement.objects.count()

    response = finance.post(
        url("revenueshareagreement", "add"),
        agreement_form(partner=lake.partner_id, market=lake.pk, **changes),
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors[field])
    assert RevenueShareAgreement.objects.count() == before


def test_an_edit_into_another_window_is_a_form_error(finance, books):
    lake = books["lake"]
    current = RevenueShareAgreement.objects.get(market=lake)
    finance.post(
        url("revenueshareagreement", "change", current.pk),
        agreement_form(current, effective_until="2027-01-01"),
    )
    later = RevenueShareAgreement.objects.create(
        partner=lake.partner, market=lake, share_bps=2500, effective_from=dt.date(2027, 1, 1)
    )

    response = finance.post(
        url("revenueshareagreement", "change", later.pk),
        agreement_form(later, effective_from="2026-12-01"),
    )

    assert response.status_code == 200
    assert f"Overlaps agreement #{current.pk}" in " ".join(
        response.context["adminform"].form.errors["effective_from"]
    )
    assert RevenueShareAgreement.objects.get(pk=later.pk).effective_from == dt.date(2027, 1, 1)


def test_agreements_are_not_deleted(finance, books):
    agreement = RevenueShareAgreement.objects.filter(partner=books["north"]).first()
    assert agreement is not None

    assert finance.get(url("revenueshareagreement", "delete", agreement.pk)).status_code == 403
    assert (
        finance.post(
            url("revenueshareagreement", "delete", agreement.pk), {"post": "yes"}
        ).status_code
        == 403
    )


# --- a fixed number of queries per list page ------------------------------------------------------


def grow(n: int, *, tag: str) -> None:
    """`n` more rows of every ledger model, each with its own partner, market and entry, so a
    list page that reads a related row per row shows it as more queries."""
    approver = UserFactory.create()
    for i in range(n):
        partner = PartnerFactory.create()
        market = Market.objects.create(name=f"M {tag}{i}", slug=f"m-{tag}{i}", partner=partner)
        RevenueShareAgreement.objects.create(
            partner=partner, market=market, share_bps=1000, effective_from=dt.date(2026, 1, 1)
        )
        journal_entry_post(
            idempotency_key=f"test-admin:{tag}{i}",
            kind="test",
            occurred_on=dt.date(2026, 10, 1) + dt.timedelta(days=i),
            postings=debit_credit(
                debit=chart.account_get(chart.DEFERRED_REVENUE),
                credit=chart.partner_payable_account(partner),
                amount_cents=100 + i,
                dimensions=Dimensions(partner_id=partner.pk, market_id=market.pk),
            ),
        )
        invoice = member_invoice(member_customer(), 900)
        line = InvoiceLine.objects.get(invoice=invoice)
        RevenueSchedule.objects.create(
            invoice_line=line,
            total_cents=900,
            service_start=line.period_start,
            service_end=line.period_end,
            partner=partner,
            market=market,
        )
        Statement.objects.create(
            partner=partner,
            period=dt.date(2026, 10, 1),
            status=StatementStatus.APPROVED,
            approved_by=approver,
            amount_due_cents=i,
        )


@pytest.mark.parametrize("model", MODELS)
def test_list_pages_take_a_fixed_number_of_queries(finance, django_assert_max_num_queries, model):
    grow(1, tag="one")
    page = url(model, "changelist")
    finance.get(page)  # warm caches (content types, the session)
    with CaptureQueriesContext(connection) as one_row:
        assert finance.get(page).status_code == 200

    grow(12, tag="more")

    with django_assert_max_num_queries(len(one_row.captured_queries)):
        response = finance.get(page)
    assert response.context["cl"].result_count >= 13


def test_an_entry_page_takes_a_fixed_number_of_queries(finance, django_assert_max_num_queries):
    def entry_with(n: int, key: str) -> JournalEntry:
        postings = []
        for i in range(n):
            partner = PartnerFactory.create()
            market = Market.objects.create(name=f"E {key}{i}", slug=f"e-{key}{i}", partner=partner)
            postings += debit_credit(
                debit=chart.account_get(chart.DEFERRED_REVENUE),
                credit=chart.partner_payable_account(partner),
                amount_cents=100,
                dimensions=Dimensions(partner_id=partner.pk, market_id=market.pk),
            )
        entry = journal_entry_post(
            idempotency_key=f"test-admin:{key}",
            kind="test",
            occurred_on=dt.date(2026, 10, 1),
            postings=postings,
        )
        assert entry is not None
        return entry

    small, large = entry_with(1, "small"), entry_with(15, "large")
    finance.get(url("journalentry", "change", small.pk))
    with CaptureQueriesContext(connection) as one_pair:
        finance.get(url("journalentry", "change", small.pk))

    with django_assert_max_num_queries(len(one_pair.captured_queries)):
        response = finance.get(url("journalentry", "change", large.pk))
    assert response.status_code == 200
    assert len(response.context["inline_admin_formsets"][0].formset.forms) == 30
