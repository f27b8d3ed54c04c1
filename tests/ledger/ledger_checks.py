"""Invariants of the books, read straight from the database, for the ledger tests."""

from __future__ import annotations

from django.db import connection

from ledger import chart
from ledger.models import Posting, RevenueSchedule


def trial_balance_cents() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(sum(amount_cents), 0) FROM ledger_posting")
        return int(cursor.fetchone()[0])


def unbalanced_entries() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT entry_id FROM ledger_posting GROUP BY entry_id, currency "
            "HAVING sum(amount_cents) <> 0"
        )
        return [row[0] for row in cursor.fetchall()]


def line_sums(line_id: int) -> dict[str, int]:
    """Per account code, the sum of the line's postings (debit positive)."""
    sums: dict[str, int] = {}
    for code, amount in Posting.objects.filter(invoice_line_id=line_id).values_list(
        "account__code", "amount_cents"
    ):
        sums[code] = sums.get(code, 0) + amount
    return sums


def assert_line_identity(line_id: int, *, invoiced: int, refunded: int) -> None:
    """recognized (net of refunds and credits) + deferred = invoiced - refunded, and the
    schedule's running figure agrees with the postings."""
    sums = line_sums(line_id)
    recognized_gross = -sums.get(chart.MEMBERSHIP_REVENUE, 0)
    refunds = sums.get(chart.REFUNDS_CREDITS, 0)
    deferred = -sums.get(chart.DEFERRED_REVENUE, 0)
    assert refunds == refunded
    assert (recognized_gross - refunds) + deferred == invoiced - refunded
    schedule = RevenueSchedule.objects.filter(invoice_line_id=line_id).first()
    if schedule is not None:
        assert schedule.recognized_cents == recognized_gross
