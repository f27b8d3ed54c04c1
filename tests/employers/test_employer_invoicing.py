"""Employer invoicing (employers/invoicing.py): monthly in arrears, prorated by covered days,
through the billing path and the Stripe emulator; member shares charged to the member's card;
re-runs and concurrent runs; the invoices API and its scoping.

Sponsored memberships and enrollments are made directly with the ORM (`enroll`): the
enrollment service is built elsewhere."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import threading

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection
from hypothesis import given
from hypothesis import strategies as st

from accounts.models import Role
from accounts.services import role_grant
from billing.models import (
    CollectionMethod,
    Invoice,
    InvoiceLine,
    InvoiceLineKind,
    InvoiceStatus,
    Payment,
    PaymentStatus,
)
from billing.proration import prorated_charge_cents
from billing.services import billing_customer_create
from billing.stripe_outbox import stripe_outbox_push
from config import clock
from employers.invoicing import employer_invoicing_run
from employers.invoicing_tasks import employer_invoicing_run_task
from employers.models import (
    ContributionKind,
    Employer,
    EmployerContract,
    EmployerInvoice,
    Enrollment,
    RosterEntry,
)
from employers.selectors import employer_invoice_amount_due_cents
from ledger import chart
from ledger.models import Posting
from memberships.models import (
    Market,
    Member,
    MemberMarket,
    Membership,
    MembershipStatus,
    Price,
)
from memberships.selectors import SPONSORED_PRICE_CODE
from tests.api_assertions import assert_error
from tests.factories import EmployerFactory, UserFactory, user_with_role
from tests.memberships.factories import active_membership

JUNE = dt.date(2027, 6, 1)  # 30 days
JULY_4, JULY_5 = dt.date(2027, 7, 4), dt.date(2027, 7, 5)  # the billing day is the 5th
DAY = 86_400
_external_ids = itertools.count(1)


# --- helpers -----------------------------------------------------------------------------------


def contract(
    employer: Employer,
    *,
    pepm: int = 5000,
    contribution: int | None = None,
    start: dt.date = dt.date(2027, 1, 1),
    until: dt.date | None = None,
    billing_day: int = 5,
    net_days: int = 30,
) -> EmployerContract:
    """A FULL contract at `pepm`, or a FIXED one when `contribution` is given."""
    return EmployerContract.objects.create(
        employer=employer,
        pepm_cents=pepm,
        contribution_kind=ContributionKind.FULL if contribution is None else ContributionKind.FIXED,
        contribution_cents=contribution or 0,
        billing_day=billing_day,
        net_days=net_days,
        effective_from=start,
        effective_until=until,
    )


def enroll(
    employer: Employer,
    *,
    name: str,
    starts_on: dt.date,
    ends_on: dt.date | None = None,
    card: str | None = "pm_card_visa",
) -> Membership:
    """A member with a sponsored membership enrolled from `starts_on` through `ends_on`, home
    market Northeast Ohio (a partner's market), with a billing customer and card unless
    `card` is None."""
    n = next(_external_ids)
    user = UserFactory.create(full_name=name)
    role_grant(user=user, role=Role.MEMBER)
    member = Member.objects.create(user=user, date_of_birth=dt.date(1990, 1, 1))
    MemberMarket.objects.create(
        member=member,
        market=Market.objects.get(slug="northeast-ohio"),
        effective_from=dt.date(2026, 1, 1),
    )
    if card is not None:
        billing_customer_create(
            email=user.email, name=user.full_name, user=user, payment_method_id=card
        )
    first = starts_on.replace(day=1)
    membership = Membership.objects.create(
        member=member,
        price=Price.objects.get(code=SPONSORED_PRICE_CODE),
        status=MembershipStatus.ACTIVE,
        sponsor=employer,
        current_period_start=first,
        current_period_end=(first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1),
    )
    entry = RosterEntry.objects.create(
        employer=employer,
        external_id=f"E{n:05d}",
        full_name=name,
        work_email=f"employee{n}@work.test",
        date_of_birth=dt.date(1990, 1, 1),
        eligible_from=starts_on,
        eligible_until=ends_on,
    )
    Enrollment.objects.create(
        employer=employer,
        entry=entry,
        membership=membership,
        starts_on=starts_on,
        ends_on=ends_on,
    )
    return membership


def june_roster(employer: Employer) -> dict[str, Membership]:
    """Enrolled on the 1st (whole month), on the 15th (16 days), ending on the 20th (20 days)."""
    return {
        "ada": enroll(employer, name="Ada Lovelace", starts_on=JUNE),
        "ben": enroll(employer, name="Ben Franklin", starts_on=dt.date(2027, 6, 15)),
        "cy": enroll(employer, name="Cy Young", starts_on=JUNE, ends_on=dt.date(2027, 6, 20)),
    }


def lines_of(invoice: Invoice) -> list[tuple[int | None, dt.date, dt.date, int]]:
    return list(
        invoice.lines.order_by("id").values_list(
            "membership_id", "period_start", "period_end", "amount_cents"
        )
    )


def employer_invoice(employer: Employer, month: dt.date = JUNE) -> Invoice:
    return (
        EmployerInvoice.objects.select_related("invoice")
        .get(employer=employer, period=month)
        .invoice
    )


def push() -> None:
    report = stripe_outbox_push(run_seconds=30)
    assert report.failed == 0, report.errors


# --- the proration rule ------------------------------------------------------------------------


def test_the_documented_june_numbers():
    assert prorated_charge_cents(parts=[(5000, 30)], period_days=30) == 5000
    assert prorated_charge_cents(parts=[(5000, 16)], period_days=30) == 2667  # 2666.67
    assert prorated_charge_cents(parts=[(5000, 20)], period_days=30) == 3333  # 3333.33
    assert prorated_charge_cents(parts=[(5, 3)], period_days=30) == 1  # 0.5 rounds up
    assert prorated_charge_cents(parts=[(5000, 15), (6000, 15)], period_days=30) == 5500


@given(
    rate=st.integers(min_value=0, max_value=10_000_000),
    month_days=st.sampled_from([28, 29, 30, 31]),
    data=st.data(),
)
def test_a_charge_for_days_is_the_exact_share_rounded_half_up(rate, month_days, data):
    days = data.draw(st.integers(min_value=0, max_value=month_days))
    charged = prorated_charge_cents(parts=[(rate, days)], period_days=month_days)

    exact_twice = 2 * rate * days  # compare 2 * charged with the exact value, without floats
    assert (
        2 * charged * month_days - month_days <= exact_twice < 2 * charged * month_days + month_days
    )
    assert prorated_charge_cents(parts=[(rate, month_days)], period_days=month_days) == rate
    assert 0 <= charged <= rate


# --- the employer invoice through Stripe -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_june_is_invoiced_in_july_prorated_by_days_and_sent_with_net_terms(stripe_emulator):
    acme = EmployerFactory(name="Acme", billing_email="ap@acme.test")
    contract(acme, pepm=5000, billing_day=5, net_days=45)
    members = june_roster(acme)

    report = employer_invoicing_run(as_of=JULY_5)
    push()

    assert (report.employer_invoices, report.employer_lines) == (1, 3)
    invoice = employer_invoice(acme)
    assert lines_of(invoice) == [
        (members["ada"].pk, dt.date(2027, 6, 1), dt.date(2027, 6, 30), 5000),
        (members["ben"].pk, dt.date(2027, 6, 15), dt.date(2027, 6, 30), 2667),
        (members["cy"].pk, dt.date(2027, 6, 1), dt.date(2027, 6, 20), 3333),
    ]
    assert set(invoice.lines.values_list("kind", flat=True)) == {InvoiceLineKind.EMPLOYER_SEAT}
    descriptions = list(invoice.lines.order_by("id").values_list("description", flat=True))
    assert descriptions[1] == "Ben Franklin: membership Jun 15-30 2027 (16 of 30 days)"
    assert all("@" not in d for d in descriptions)
    assert invoice.customer.employer_id == acme.pk
    assert invoice.customer.email == "ap@acme.test"
    assert (invoice.collection_method, invoice.days_until_due) == ("send_invoice", 45)
    assert invoice.total_cents == 5000 + 2667 + 3333
    assert invoice.status == InvoiceStatus.OPEN  # sent, waiting for the employer to pay
    assert invoice.hosted_invoice_url

    [remote] = stripe_emulator.objects("invoices")["data"]
    assert remote["id"] == invoice.stripe_invoice_id
    assert remote["collection_method"] == "send_invoice"
    assert remote["status"] == "open"
    assert remote["total"] == remote["amount_due"] == 11000
    assert remote["due_date"] - remote["status_transitions"]["finalized_at"] == 45 * DAY
    assert sorted(line["amount"] for line in remote["lines"]["data"]) == [2667, 3333, 5000]
    assert not Payment.objects.filter(invoice=invoice).exists()  # no auto-charge

    # The ledger: a receivable from employers per member line, with the member's market and
    # partner, so the partner's statement includes sponsored revenue.
    postings = Posting.objects.filter(account__code=chart.RECEIVABLE_EMPLOYER)
    market = Market.objects.get(slug="northeast-ohio")
    assert sorted(postings.values_list("membership_id", "amount_cents")) == sorted(
        [(members["ada"].pk, 5000), (members["ben"].pk, 2667), (members["cy"].pk, 3333)]
    )
    assert set(postings.values_list("market_id", "partner_id")) == {(market.pk, market.partner_id)}
    assert market.partner_id is not None
    assert not Posting.objects.filter(account__code=chart.RECEIVABLE_MEMBER).exists()


@pytest.mark.django_db(transaction=True)
def test_the_member_pays_their_share_of_a_fixed_contribution_on_their_own_card(
    stripe_emulator,
):
    acme = EmployerFactory(name="Acme")
    contract(acme, pepm=5000, contribution=3000)  # the member pays 2000 a full month
    ada = enroll(acme, name="Ada Lovelace", starts_on=JUNE)
    ben = enroll(acme, name="Ben Franklin", starts_on=dt.date(2027, 6, 15))
    cy = enroll(
        acme,
        name="Cy Young",
        starts_on=JUNE,
        ends_on=dt.date(2027, 6, 20),
        card="pm_card_chargeDeclined",
    )

    report = employer_invoicing_run(as_of=JULY_5)
    push()

    assert (report.employer_invoices, report.member_share_invoices) == (1, 3)
    assert [amount for *_, amount in lines_of(employer_invoice(acme))] == [
        3000,
        1600,  # 3000 * 16 / 30
        2000,  # 3000 * 20 / 30
    ]
    shares = {
        line.membership_id: line
        for line in InvoiceLine.objects.filter(kind=InvoiceLineKind.MEMBER_SHARE).select_related(
            "invoice__customer"
        )
    }
    assert {m: line.amount_cents for m, line in shares.items()} == {
        ada.pk: 2000,
        ben.pk: 1067,  # 2000 * 16 / 30 = 1066.67
        cy.pk: 1333,  # 2000 * 20 / 30 = 1333.33
    }
    for membership in (ada, ben, cy):
        share = shares[membership.pk].invoice
        assert share.customer.user_id == membership.member.user_id
        assert share.collection_method == CollectionMethod.CHARGE_AUTOMATICALLY
        assert share.lines.count() == 1

    # Charged on the member's card: paid in Stripe, the payment recorded.
    for membership, amount in ((ada, 2000), (ben, 1067)):
        share = Invoice.objects.get(pk=shares[membership.pk].invoice_id)
        assert share.status == InvoiceStatus.PAID
        payment = Payment.objects.get(invoice=share)
        assert (payment.status, payment.amount_cents) == (PaymentStatus.SUCCEEDED, amount)
        remote = stripe_emulator.objects("invoices", customer=share.customer.stripe_customer_id)
        [remote_invoice] = remote["data"]
        assert remote_invoice["status"] == "paid"
        assert remote_invoice["amount_paid"] == amount
        assert remote_invoice["collection_method"] == "charge_automatically"

    # A declined share is recorded; the membership stays active, the employer is not affected.
    declined = Invoice.objects.get(pk=shares[cy.pk].invoice_id)
    assert declined.status == InvoiceStatus.OPEN
    failed = Payment.objects.get(invoice=declined)
    assert (failed.status, failed.failure_code) == (PaymentStatus.FAILED, "card_declined")
    cy.refresh_from_db()
    assert cy.status == MembershipStatus.ACTIVE
    assert employer_invoice(acme).status == InvoiceStatus.OPEN
    assert employer_invoice(acme).total_cents == 6600


# --- when, and only once -----------------------------------------------------------------------


@pytest.mark.django_db
def test_nothing_is_invoiced_before_the_billing_day():
    acme = EmployerFactory()
    contract(acme, billing_day=5)
    june_roster(acme)

    report = employer_invoicing_run(as_of=JULY_4)

    assert report.employer_invoices == 0
    assert not Invoice.objects.exists()
    assert employer_invoicing_run(as_of=JULY_5).employer_invoices == 1


@pytest.mark.django_db
def test_a_rerun_creates_nothing_twice():
    acme = EmployerFactory()
    contract(acme, pepm=5000, contribution=3000)
    june_roster(acme)

    first = employer_invoicing_run(as_of=JULY_5)
    again = employer_invoicing_run(as_of=JULY_5)
    later = employer_invoicing_run(as_of=dt.date(2027, 7, 20))

    assert (first.employer_invoices, first.member_share_invoices) == (1, 3)
    assert (again.employer_invoices, again.member_share_invoices) == (0, 0)
    assert (later.employer_invoices, later.member_share_invoices) == (0, 0)
    assert EmployerInvoice.objects.count() == 1
    assert Invoice.objects.count() == 4
    assert InvoiceLine.objects.count() == 6


@pytest.mark.django_db
def test_a_late_run_catches_up_every_month_in_arrears():
    acme = EmployerFactory()
    contract(acme, pepm=3100, billing_day=10)
    enroll(acme, name="Ada Lovelace", starts_on=dt.date(2027, 3, 10))

    employer_invoicing_run(as_of=dt.date(2027, 6, 9))  # May is due on June 10th

    billed = {
        row.period: row.invoice.total_cents
        for row in EmployerInvoice.objects.select_related("invoice")
    }
    assert billed == {
        dt.date(2027, 3, 1): 2200,  # 22 of 31 days at 3100
        dt.date(2027, 4, 1): 3100,
    }


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_the_same_moment_invoice_each_month_once():
    employers = [EmployerFactory() for _ in range(4)]
    for employer in employers:
        contract(employer, pepm=5000, contribution=3000)
        june_roster(employer)
    barrier = threading.Barrier(2)
    reports = []

    def run() -> None:
        try:
            barrier.wait()
            reports.append(employer_invoicing_run(as_of=JULY_5))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(reports) == 2
    assert sum(r.employer_invoices for r in reports) == 4
    assert sum(r.member_share_invoices for r in reports) == 12
    assert EmployerInvoice.objects.count() == 4
    assert InvoiceLine.objects.filter(kind=InvoiceLineKind.EMPLOYER_SEAT).count() == 12
    assert InvoiceLine.objects.filter(kind=InvoiceLineKind.MEMBER_SHARE).count() == 12
    assert Invoice.objects.count() == 16


@pytest.mark.django_db
def test_a_contract_change_mid_month_bills_each_window_at_its_rate():
    acme = EmployerFactory()
    contract(acme, pepm=5000, until=dt.date(2027, 6, 16), billing_day=3)
    contract(acme, pepm=6000, start=dt.date(2027, 6, 16), billing_day=5, net_days=15)
    enroll(acme, name="Ada Lovelace", starts_on=JUNE)
    enroll(acme, name="Ben Franklin", starts_on=dt.date(2027, 6, 15))

    assert employer_invoicing_run(as_of=JULY_4).employer_invoices == 0  # the new contract's day
    employer_invoicing_run(as_of=JULY_5)

    invoice = employer_invoice(acme)
    assert [amount for *_, amount in lines_of(invoice)] == [
        5500,  # (15 * 5000 + 15 * 6000) / 30
        3167,  # (1 * 5000 + 15 * 6000) / 30 = 3166.67
    ]
    assert invoice.days_until_due == 15


@pytest.mark.django_db
def test_no_covered_member_month_no_invoice():
    quiet = EmployerFactory()
    contract(quiet)
    enroll(
        quiet, name="Gone Before June", starts_on=dt.date(2027, 4, 1), ends_on=dt.date(2027, 5, 31)
    )
    contract(EmployerFactory())  # a contract, nobody enrolled

    employer_invoicing_run(as_of=JULY_5)

    assert set(EmployerInvoice.objects.values_list("period", flat=True)) == {
        dt.date(2027, 4, 1),
        dt.date(2027, 5, 1),
    }


@pytest.mark.django_db
def test_a_member_without_a_billing_customer_is_reported_not_billed():
    acme = EmployerFactory()
    contract(acme, pepm=5000, contribution=3000)
    enroll(acme, name="No Card", starts_on=JUNE, card=None)

    report = employer_invoicing_run(as_of=JULY_5)

    assert (report.employer_invoices, report.member_share_invoices) == (1, 0)
    assert report.member_shares_without_customer == 1


@pytest.mark.django_db
def test_sponsored_memberships_move_to_the_current_calendar_month():
    acme = EmployerFactory()
    contract(acme)
    sponsored = enroll(acme, name="Ada Lovelace", starts_on=dt.date(2027, 5, 12))
    individual = active_membership(start=dt.date(2027, 5, 12))

    first = employer_invoicing_run(as_of=JULY_5)
    again = employer_invoicing_run(as_of=JULY_5)

    sponsored.refresh_from_db()
    individual.refresh_from_db()
    assert (sponsored.current_period_start, sponsored.current_period_end) == (
        dt.date(2027, 7, 1),
        dt.date(2027, 7, 31),
    )
    assert (first.memberships_advanced, again.memberships_advanced) == (1, 0)
    assert individual.current_period_start == dt.date(2027, 5, 12)


@pytest.mark.django_db
def test_the_command_prints_a_summary():
    acme = EmployerFactory()
    contract(acme, pepm=5000, contribution=3000)
    june_roster(acme)
    out = io.StringIO()

    call_command("employer_invoicing_run", "--as-of", "2027-07-05", stdout=out)
    call_command("employer_invoicing_run", "--as-of", "2027-07-05", stdout=out)

    first, second = out.getvalue().strip().splitlines()
    assert first.startswith("Employer invoicing as of 2027-07-05: 1 employer invoices")
    assert "(3 member lines, 6600 cents), 3 member share invoices" in first
    assert "0 employer invoices" in second
    assert EmployerInvoice.objects.count() == 1


@pytest.mark.django_db
def test_the_beat_task_runs_the_service_for_today():
    acme = EmployerFactory()
    contract(acme)
    june_roster(acme)
    entry = django_settings.CELERY_BEAT_SCHEDULE["employers-invoicing-run"]

    assert entry["task"] == employer_invoicing_run_task.name
    with clock.as_of(JULY_5):
        employer_invoicing_run_task.delay()

    assert EmployerInvoice.objects.filter(employer=acme, period=JUNE).exists()


# --- the API -----------------------------------------------------------------------------------


@pytest.fixture
def invoiced():
    acme, globex = EmployerFactory(name="Acme"), EmployerFactory(name="Globex")
    for employer in (acme, globex):
        contract(employer)
        june_roster(employer)
    employer_invoicing_run(as_of=JULY_5)
    return {
        "acme": acme,
        "globex": globex,
        "acme_invoice": EmployerInvoice.objects.get(employer=acme),
        "globex_invoice": EmployerInvoice.objects.get(employer=globex),
    }


@pytest.mark.django_db
def test_an_employer_admin_lists_their_invoices(client_for, invoiced):
    acme = invoiced["acme"]
    client = client_for(user_with_role(Role.EMPLOYER_ADMIN, employer=acme))

    response = client.get(f"/api/v1/employers/{acme.pk}/invoices/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    [row] = body["results"]
    assert row["id"] == invoiced["acme_invoice"].pk
    assert row["period"] == "2027-06-01"
    assert row["status"] == "draft"  # not pushed to Stripe in this test
    assert (row["total_cents"], row["amount_due_cents"], row["amount_paid_cents"]) == (
        11000,
        11000,
        0,
    )
    assert row["days_until_due"] == 30
    assert "hosted_invoice_url" in row
    assert "lines" not in row


@pytest.mark.django_db
def test_an_invoice_shows_a_line_per_member(client_for, invoiced):
    acme, row = invoiced["acme"], invoiced["acme_invoice"]
    client = client_for(user_with_role(Role.EMPLOYER_ADMIN, employer=acme))

    response = client.get(f"/api/v1/employers/{acme.pk}/invoices/{row.pk}/")

    assert response.status_code == 200
    lines = [
        (line["member_name"], line["days"], line["amount_cents"])
        for line in response.json()["lines"]
    ]
    assert lines == [("Ada Lovelace", 30, 5000), ("Ben Franklin", 16, 2667), ("Cy Young", 20, 3333)]


@pytest.mark.django_db
def test_an_admin_of_another_employer_gets_404_on_every_invoice_route(client_for, invoiced):
    acme, globex = invoiced["acme"], invoiced["globex"]
    client = client_for(user_with_role(Role.EMPLOYER_ADMIN, employer=acme))
    theirs = invoiced["globex_invoice"]

    assert_error(client.get(f"/api/v1/employers/{globex.pk}/invoices/"), 404, "not_found")
    assert_error(
        client.get(f"/api/v1/employers/{globex.pk}/invoices/{theirs.pk}/"), 404, "not_found"
    )
    # their invoice under my employer's path is not found either
    assert_error(client.get(f"/api/v1/employers/{acme.pk}/invoices/{theirs.pk}/"), 404, "not_found")
    # and another tenant looks exactly like a missing one
    other = client.get(f"/api/v1/employers/{globex.pk}/invoices/")
    missing = client.get("/api/v1/employers/999999/invoices/")
    assert other.json() == missing.json()


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.FINANCE_STAFF, Role.OPERATOR_ADMIN])
def test_staff_read_every_employers_invoices(client_for, invoiced, role):
    client = client_for(user_with_role(role))
    globex, row = invoiced["globex"], invoiced["globex_invoice"]

    assert client.get(f"/api/v1/employers/{globex.pk}/invoices/").json()["count"] == 1
    detail = client.get(f"/api/v1/employers/{globex.pk}/invoices/{row.pk}/")
    assert detail.status_code == 200
    assert len(detail.json()["lines"]) == 3


@pytest.mark.django_db
def test_members_are_refused_and_anonymous_is_401(client_for, api_client, invoiced):
    acme, row = invoiced["acme"], invoiced["acme_invoice"]
    member = client_for(user_with_role(Role.MEMBER))
    paths = [
        f"/api/v1/employers/{acme.pk}/invoices/",
        f"/api/v1/employers/{acme.pk}/invoices/{row.pk}/",
    ]

    for path in paths:
        assert_error(member.get(path), 403, "permission_denied")
        assert_error(api_client.get(path), 401, "not_authenticated")


def test_amount_due_counts_credit_notes_and_is_nothing_once_paid_or_void():
    open_invoice = Invoice(
        status="open", total_cents=11000, amount_credited_cents=1000, amount_paid_cents=0
    )
    assert employer_invoice_amount_due_cents(invoice=open_invoice) == 10000
    for closed in ("paid", "void"):
        invoice = Invoice(status=closed, total_cents=11000, amount_paid_cents=0)
        assert employer_invoice_amount_due_cents(invoice=invoice) == 0
