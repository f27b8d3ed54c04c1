"""Revenue recognition: deferred revenue becomes membership revenue day by day over each line's
service period.

Rule, for a schedule of `total` cents over `days` days (both ends included), as of day D:
- recognized-to-date = round_half_up(total * elapsed / days), where elapsed counts the days of
  the period up to and including D (0 before it starts, `days` after it ends);
- when the service ended early (`ends_early_on`), everything is recognized from that day on;
- a run posts, per schedule, recognized-to-date minus what is already recognized, so rounding
  never drifts and the last day lands exactly on the total.

`ledger_recognize(as_of=D)` claims open schedules in chunks with `FOR UPDATE SKIP LOCKED` (so
concurrent runs split the work) and posts one entry per chunk, whose key is derived from the
schedules and the targets it reaches: re-running for the same day posts nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q

from billing.proration import period_days
from ledger import chart
from ledger.journal import Dimensions, PostingInput, debit_credit, journal_entry_post
from ledger.models import RevenueSchedule


@dataclass
class RecognitionReport:
    schedules: int = 0
    recognized_cents: int = 0
    entries: int = 0


def recognized_to_date(*, schedule: RevenueSchedule, as_of: dt.date) -> int:
    """What the schedule has earned by the end of `as_of` (see the module docstring)."""
    if schedule.ends_early_on is not None and as_of >= schedule.ends_early_on:
        return schedule.total_cents
    days = period_days(schedule.service_start, schedule.service_end)
    elapsed = min(max((as_of - schedule.service_start).days + 1, 0), days)
    return (2 * schedule.total_cents * elapsed + days) // (2 * days)


def ledger_recognize(
    *,
    as_of: dt.date,
    chunk_size: int = 200,
    progress: Callable[[RecognitionReport], None] | None = None,
) -> RecognitionReport:
    """Recognize revenue of every open schedule up to and including `as_of`."""
    report = RecognitionReport()
    after_id = 0
    while True:
        claimed, after_id = _recognize_chunk(
            as_of=as_of, chunk_size=chunk_size, after_id=after_id, report=report
        )
        if progress is not None and claimed:
            progress(report)
        if claimed < chunk_size:
            return report


@transaction.atomic
def _recognize_chunk(
    *, as_of: dt.date, chunk_size: int, after_id: int, report: RecognitionReport
) -> tuple[int, int]:
    schedules = list(
        RevenueSchedule.objects.filter(done=False, id__gt=after_id)
        .filter(Q(service_start__lte=as_of) | Q(ends_early_on__lte=as_of))
        .order_by("id")
        .select_for_update(skip_locked=True)[:chunk_size]
    )
    if not schedules:
        return 0, after_id
    deferred = chart.account_get(chart.DEFERRED_REVENUE)
    revenue = chart.account_get(chart.MEMBERSHIP_REVENUE)
    postings: list[PostingInput] = []
    steps: list[str] = []
    changed: list[RevenueSchedule] = []
    for schedule in schedules:
        target = recognized_to_date(schedule=schedule, as_of=as_of)
        delta = target - schedule.recognized_cents
        if delta == 0 and target != schedule.total_cents:
            continue
        postings += debit_credit(
            debit=deferred,
            credit=revenue,
            amount_cents=delta,
            dimensions=Dimensions.of_schedule(schedule),
            currency=schedule.currency,
        )
        steps.append(f"{schedule.pk}:{target}")
        schedule.recognized_cents = target
        schedule.done = target == schedule.total_cents
        changed.append(schedule)
        report.recognized_cents += delta
    if changed:
        digest = hashlib.sha256(",".join(steps).encode()).hexdigest()[:24]
        entry = journal_entry_post(
            idempotency_key=f"recognition:{as_of.isoformat()}:{digest}",
            kind="recognition",
            occurred_on=as_of,
            postings=postings,
            memo=f"revenue recognized through {as_of.isoformat()}",
        )
        report.entries += entry is not None and bool(postings)
        RevenueSchedule.objects.bulk_update(changed, ["recognized_cents", "done"])
        report.schedules += len(changed)
    return len(schedules), schedules[-1].pk
