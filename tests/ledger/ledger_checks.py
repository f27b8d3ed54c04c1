"""Invariants of the books, read straight from the database, for the ledger tests."""

from __future__ import annotations

from ledger import chart
from ledger.models import Posting, RevenueSchedule
from ledger.selectors import journal_entries_unbalanced, ledger_trial_balance_cents


def trial_balance_cents() -> int:
    return ledger_trial_balance_cents()


def unbalanced_entries() -> list[int]:
    return journal_entries_unbalanced()


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
