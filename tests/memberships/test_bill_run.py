from __future__ import annotations

import datetime as dt
import io
import threading

import pytest
from django.core.management import call_command
from django.db import connection

from billing.models import Invoice, InvoiceLine, InvoiceLineKind, StripeCommand
from memberships.models import Membership, MembershipEvent, MembershipStatus
from memberships.renewals import memberships_renew_due
from tests.memberships.factories import active_membership


def fee_lines(membership: Membership) -> list[tuple[dt.date, dt.date, int]]:
    return list(
        InvoiceLine.objects.filter(membership=membership, kind=InvoiceLineKind.MEMBERSHIP_FEE)
        .order_by("period_start")
        .values_list("period_start", "period_end", "amount_cents")
    )


@pytest.mark.django_db
def test_a_monthly_membership_is_renewed_once_a_month_later():
    membership = active_membership()
    out = io.StringIO()

    call_command("billing_run", "--as-of", "2027-02-01", stdout=out)
    call_command("billing_run", "--as-of", "2027-02-01", stdout=out)  # again: nothing new

    membership.refresh_from_db()
    assert fee_lines(membership) == [(dt.date(2027, 2, 1), dt.date(2027, 2, 28), 900)]
    assert (membership.current_period_start, membership.current_period_end) == (
        dt.date(2027, 2, 1),
        dt.date(2027, 2, 28),
    )
    assert StripeCommand.objects.filter(kind="invoice_push").count() == 1
    assert "1 renewed" in out.getvalue()
    assert "0 renewed" in out.getvalue()


@pytest.mark.django_db
def test_nothing_is_due_on_the_last_day_of_the_period():
    membership = active_membership()

    report = memberships_renew_due(as_of=dt.date(2027, 1, 31))

    assert report.renewed == 0
    assert fee_lines(membership) == []


@pytest.mark.django_db
def test_an_annual_membership_is_renewed_a_year_later():
    membership = active_membership(code="standard_annual")

    memberships_renew_due(as_of=dt.date(2028, 1, 1))

    assert fee_lines(membership) == [(dt.date(2028, 1, 1), dt.date(2028, 12, 31), 19900)]


@pytest.mark.django_db
def test_a_lapsed_prime_member_renews_at_the_standard_price_with_notice():
    membership = active_membership(code="prime_monthly", prime_until=dt.date(2027, 1, 20))

    report = memberships_renew_due(as_of=dt.date(2027, 2, 1))

    assert report.prime_lapsed == 1
    membership.refresh_from_db()
    assert membership.price.code == "standard_annual"
    assert fee_lines(membership) == [(dt.date(2027, 2, 1), dt.date(2028, 1, 31), 19900)]
    notice = MembershipEvent.objects.get(membership=membership, kind="prime_lapsed")
    assert notice.data == {"was": "prime_monthly", "now": "standard_annual", "amount_cents": 19900}


@pytest.mark.django_db
def test_a_verified_prime_member_keeps_the_prime_price():
    membership = active_membership(code="prime_annual", prime_until=dt.date(2028, 6, 1))

    memberships_renew_due(as_of=dt.date(2028, 1, 1))

    assert fee_lines(membership) == [(dt.date(2028, 1, 1), dt.date(2028, 12, 31), 9900)]


@pytest.mark.django_db
def test_a_cancellation_at_period_end_ends_instead_of_renewing():
    membership = active_membership()
    Membership.objects.filter(pk=membership.pk).update(cancel_at_period_end=True)

    report = memberships_renew_due(as_of=dt.date(2027, 2, 1))

    assert (report.renewed, report.canceled) == (0, 1)
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.CANCELED
    assert fee_lines(membership) == []


@pytest.mark.django_db(transaction=True)
def test_two_bill_runs_at_the_same_moment_bill_each_membership_once():
    memberships = [active_membership() for _ in range(60)]
    start = threading.Barrier(2)
    reports = []

    def run() -> None:
        try:
            start.wait()
            reports.append(memberships_renew_due(as_of=dt.date(2027, 2, 1), chunk_size=7))
        finally:
            connection.close()

    runs = [threading.Thread(target=run) for _ in range(2)]
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join()

    assert sum(r.renewed for r in reports) == 60
    assert Invoice.objects.count() == 60
    for membership in memberships:
        assert len(fee_lines(membership)) == 1
    assert StripeCommand.objects.filter(kind="invoice_push").count() == 60
