"""Partner revenue-share statements, built from the ledger.

For one partner and one month, per market the partner has an agreement for:
- recognized revenue = credits to membership revenue dated in the month (market dimension);
- refunds and credits = debits to the refunds-and-credits account dated in the month (refunds,
  credit lines, lost disputes);
- net basis = recognized - refunds and credits;
- share = for each agreement in force during the month, round_half_up(net of its days *
  share_bps / 10000) (a mid-month change splits the month by day);
- recoupment = round_half_up(net of its days * recoupment_rate_bps / 10000) while the
  agreement's start-up contribution is not repaid, never more than what is left, nothing when
  the net is negative; a schedule in month order from the agreement's start (approved months
  count what they booked, `StatementRecoupment`; other months what they would repay now), so
  approving months in any order neither changes a draft nor repays more than was contributed;
- prior-period adjustments: the share of each approved earlier month recomputed from today's
  ledger, minus what was approved for it (and adjusted since);
- amount due = shares + recoupments + adjustments; member counts (active at the month's end,
  new and churned in it) by home market.

States (one transition table): draft → approved (locked; its amount is accrued to the
partner's payable account: Dr revenue share, Cr payable) → paid (the payout is posted: Dr
payable, Cr operating cash). Regenerating a draft from an unchanged ledger changes nothing; an
approved statement never changes again.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Q, Sum

from accounts.models import User
from config import clock
from config.errors import ConflictError
from ledger import chart
from ledger.journal import Dimensions, PostingInput, debit_credit, journal_entry_post
from ledger.models import (
    Posting,
    RevenueShareAgreement,
    Statement,
    StatementEvent,
    StatementEventKind,
    StatementLine,
    StatementLineKind,
    StatementRecoupment,
    StatementStatus,
)
from partners.models import Partner

ALLOWED_TRANSITIONS: dict[StatementStatus, frozenset[StatementStatus]] = {
    StatementStatus.DRAFT: frozenset({StatementStatus.APPROVED}),
    StatementStatus.APPROVED: frozenset({StatementStatus.PAID}),
    StatementStatus.PAID: frozenset(),
}


def month_bounds(period: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day of the month of `period`."""
    first = period.replace(day=1)
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


def round_half_up_bps(amount_cents: int, bps: int) -> int:
    """amount * bps / 10000, rounded half away from zero."""
    sign = -1 if amount_cents < 0 else 1
    return sign * ((2 * abs(amount_cents) * bps + 10000) // 20000)


@dataclass
class MarketFigures:
    market_id: int
    recognized_cents: int = 0
    refunds_cents: int = 0
    share_cents: int = 0
    recoupment_cents: int = 0
    active_members: int = 0
    new_members: int = 0
    churned_members: int = 0

    @property
    def net_cents(self) -> int:
        return self.recognized_cents - self.refunds_cents


@dataclass
class StatementFigures:
    markets: dict[int, MarketFigures] = field(default_factory=dict)
    adjustments: list[tuple[int, dt.date, int]] = field(default_factory=list)  # market, period
    recoupments: dict[int, int] = field(default_factory=dict)  # agreement id → cents


def _agreements(partner_id: int, first: dt.date, last: dt.date) -> list[RevenueShareAgreement]:
    return list(
        RevenueShareAgreement.objects.filter(partner_id=partner_id, effective_from__lte=last)
        .filter(Q(effective_until__isnull=True) | Q(effective_until__gt=first))
        .order_by("market_id", "effective_from")
    )


def _daily_net(
    partner_id: int, first: dt.date, last: dt.date
) -> dict[tuple[int, dt.date], list[int]]:
    """(market, day) → [recognized, refunds and credits] from the ledger."""
    rows = (
        Posting.objects.filter(
            partner_id=partner_id,
            occurred_on__gte=first,
            occurred_on__lte=last,
            market_id__isnull=False,
            account__code__in=[chart.MEMBERSHIP_REVENUE, chart.REFUNDS_CREDITS],
        )
        .values("market_id", "occurred_on", "account__code")
        .annotate(total=Sum("amount_cents"))
    )
    daily: dict[tuple[int, dt.date], list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        key = (row["market_id"], row["occurred_on"])
        if row["account__code"] == chart.MEMBERSHIP_REVENUE:
            daily[key][0] += -row["total"]
        else:
            daily[key][1] += row["total"]
    return daily


def _window_net(
    daily: dict[tuple[int, dt.date], list[int]],
    agreement: RevenueShareAgreement,
    first: dt.date,
    last: dt.date,
) -> tuple[int, int]:
    """(recognized, refunds and credits) of the agreement's market on the days of [first, last]
    that the agreement is in force."""
    start = max(first, agreement.effective_from)
    end = min(
        last, (agreement.effective_until or last + dt.timedelta(days=1)) - dt.timedelta(days=1)
    )
    recognized = refunds = 0
    for (market_id, day), (rec, ref) in daily.items():
        if market_id == agreement.market_id and start <= day <= end:
            recognized += rec
            refunds += ref
    return recognized, refunds


def _recoupment(agreement: RevenueShareAgreement, net: int, left: int) -> int:
    if net <= 0 or left <= 0:
        return 0
    return min(round_half_up_bps(net, agreement.recoupment_rate_bps), left)


def _recoupment_left(partner_id: int, agreement: RevenueShareAgreement, first: dt.date) -> int:
    """What is left of the agreement's contribution for the month starting `first`.

    Recoupment is a schedule in month order: each month from the agreement's start repays its
    rate of that month's net until the contribution is repaid. A month with an approved (or
    paid) statement counts what that statement booked; any other earlier month counts what it
    would repay now. So a month's figure depends on the ledger, not on which other months were
    approved first, and regenerating a draft changes nothing. As a last guard, what approved
    statements of any month booked is never exceeded."""
    start = agreement.effective_from.replace(day=1)
    approved = [StatementStatus.APPROVED, StatementStatus.PAID]
    locked = set(
        Statement.objects.filter(
            partner_id=partner_id, status__in=approved, period__gte=start, period__lt=first
        ).values_list("period", flat=True)
    )
    booked_rows = StatementRecoupment.objects.filter(
        agreement=agreement, statement__status__in=approved
    ).values_list("statement__period", "amount_cents")
    booked = dict(booked_rows)
    daily = _daily_net(partner_id, start, first - dt.timedelta(days=1)) if start < first else {}
    total = agreement.recoupment_total_cents
    running = 0
    month = start
    while month < first:
        if month in locked:
            running += booked.get(month, 0)
        else:
            recognized, refunds = _window_net(daily, agreement, *month_bounds(month))
            running += _recoupment(agreement, recognized - refunds, total - running)
        month = month_bounds(month)[1] + dt.timedelta(days=1)
    booked_elsewhere = sum(cents for period, cents in booked.items() if period != first)
    return total - max(running, booked_elsewhere)


def statement_figures(
    *, partner_id: int, period: dt.date, with_recoupment: bool = True
) -> StatementFigures:
    """This month's figures of one partner, per market, computed from the ledger now."""
    first, last = month_bounds(period)
    figures = StatementFigures()
    agreements = _agreements(partner_id, first, last)
    daily = _daily_net(partner_id, first, last)
    for agreement in agreements:
        market = figures.markets.setdefault(agreement.market_id, MarketFigures(agreement.market_id))
        recognized, refunds = _window_net(daily, agreement, first, last)
        market.recognized_cents += recognized
        market.refunds_cents += refunds
        net = recognized - refunds
        market.share_cents += round_half_up_bps(net, agreement.share_bps)
        if with_recoupment and agreement.recoupment_total_cents and agreement.recoupment_rate_bps:
            left = _recoupment_left(partner_id, agreement, first)
            recouped = _recoupment(agreement, net, left)
            if recouped:
                market.recoupment_cents += recouped
                figures.recoupments[agreement.pk] = recouped
    for market_id, counts in _member_counts(list(figures.markets), first, last).items():
        market = figures.markets[market_id]
        market.active_members, market.new_members, market.churned_members = counts
    return figures


def _member_counts(
    market_ids: list[int], first: dt.date, last: dt.date
) -> dict[int, tuple[int, int, int]]:
    """market → (active at the end of the month, new in it, churned in it), by the member's
    home market on the month's last day; a membership counts from its activation."""
    if not market_ids:
        return {}
    start = clock.start_of_day(first)
    end = clock.start_of_day(last + dt.timedelta(days=1))
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT home.market_id,
                   count(*) FILTER (WHERE act.at < %(end)s
                                    AND (m.ended_at IS NULL OR m.ended_at >= %(end)s)),
                   count(*) FILTER (WHERE act.at >= %(start)s AND act.at < %(end)s),
                   count(*) FILTER (WHERE m.ended_at >= %(start)s AND m.ended_at < %(end)s)
              FROM memberships_membership m
              JOIN LATERAL (SELECT min(e.created_at) AS at FROM memberships_membershipevent e
                             WHERE e.membership_id = m.id AND e.kind = 'activated') act
                ON act.at IS NOT NULL
              JOIN LATERAL (SELECT x.market_id FROM memberships_membermarket x
                             WHERE x.member_id = m.member_id AND x.effective_from <= %(last)s
                             ORDER BY x.effective_from DESC LIMIT 1) home ON true
             WHERE home.market_id = ANY(%(markets)s)
             GROUP BY home.market_id
            """,
            {"start": start, "end": end, "last": last, "markets": market_ids},
        )
        return {row[0]: (row[1], row[2], row[3]) for row in cursor.fetchall()}


def _adjustments(partner_id: int, period: dt.date) -> list[tuple[int, dt.date, int]]:
    """(market, earlier period, cents) for every approved earlier month whose share, recomputed
    from today's ledger, differs from what was approved and adjusted since."""
    out: list[tuple[int, dt.date, int]] = []
    earlier = Statement.objects.filter(
        partner_id=partner_id,
        period__lt=period,
        status__in=[StatementStatus.APPROVED, StatementStatus.PAID],
    ).order_by("period")
    for statement in earlier:
        now = statement_figures(
            partner_id=partner_id, period=statement.period, with_recoupment=False
        )
        booked: dict[int, int] = defaultdict(int)
        for line in statement.lines.filter(kind=StatementLineKind.MARKET):
            booked[line.market_id] += line.share_cents
        for line in StatementLine.objects.filter(
            statement__partner_id=partner_id,
            statement__status__in=[StatementStatus.APPROVED, StatementStatus.PAID],
            kind=StatementLineKind.ADJUSTMENT,
            adjusts_period=statement.period,
        ):
            booked[line.market_id] += line.amount_cents
        for market_id in set(booked) | set(now.markets):
            share_now = now.markets[market_id].share_cents if market_id in now.markets else 0
            delta = share_now - booked[market_id]
            if delta:
                out.append((market_id, statement.period, delta))
    return out


AUDITED_AMOUNTS = (
    "recognized_cents",
    "refunds_cents",
    "net_cents",
    "share_cents",
    "recoupment_cents",
    "adjustment_cents",
    "amount_due_cents",
)


def _amounts(statement: Statement) -> dict[str, int]:
    return {name: getattr(statement, name) for name in AUDITED_AMOUNTS}


@transaction.atomic
def statement_generate(
    *, partner: Partner, period: dt.date, actor: User | None = None
) -> Statement:
    """The partner's statement for the month of `period`: made, or regenerated while it is a
    draft. An approved or paid statement is returned as it is. The history records the first
    generation and every regeneration that changed an amount (`actor`: None for the system)."""
    first, _ = month_bounds(period)
    # One partner's statements are (re)generated one at a time: what is left to recoup depends
    # on its other approved statements.
    Partner.objects.select_for_update().filter(pk=partner.pk).first()
    statement, created = Statement.objects.get_or_create(partner=partner, period=first)
    statement = Statement.objects.select_for_update().get(pk=statement.pk)
    if statement.status != StatementStatus.DRAFT:
        return statement
    before = _amounts(statement)
    figures = statement_figures(partner_id=partner.pk, period=first)
    lines = [
        StatementLine(
            statement=statement,
            kind=StatementLineKind.MARKET,
            market_id=m.market_id,
            recognized_cents=m.recognized_cents,
            refunds_cents=m.refunds_cents,
            net_cents=m.net_cents,
            share_cents=m.share_cents,
            recoupment_cents=m.recoupment_cents,
            amount_cents=m.share_cents + m.recoupment_cents,
            active_members=m.active_members,
            new_members=m.new_members,
            churned_members=m.churned_members,
        )
        for m in sorted(figures.markets.values(), key=lambda m: m.market_id)
    ] + [
        StatementLine(
            statement=statement,
            kind=StatementLineKind.ADJUSTMENT,
            market_id=market_id,
            adjusts_period=adjusted,
            amount_cents=cents,
        )
        for market_id, adjusted, cents in _adjustments(partner.pk, first)
    ]
    recoupments = sorted(figures.recoupments.items())
    booked = sorted(statement.recoupments.values_list("agreement_id", "amount_cents"))
    if (
        _line_values(lines) != _line_values(list(statement.lines.order_by("id")))
        or recoupments != booked
    ):
        statement.lines.all().delete()
        StatementLine.objects.bulk_create(lines)
        statement.recoupments.all().delete()
        StatementRecoupment.objects.bulk_create(
            StatementRecoupment(statement=statement, agreement_id=agreement_id, amount_cents=cents)
            for agreement_id, cents in recoupments
        )
        statement.generated_at = clock.now()
    market_lines = [line for line in lines if line.kind == StatementLineKind.MARKET]
    statement.recognized_cents = sum(line.recognized_cents for line in market_lines)
    statement.refunds_cents = sum(line.refunds_cents for line in market_lines)
    statement.net_cents = sum(line.net_cents for line in market_lines)
    statement.share_cents = sum(line.share_cents for line in market_lines)
    statement.recoupment_cents = sum(line.recoupment_cents for line in market_lines)
    statement.adjustment_cents = sum(
        line.amount_cents for line in lines if line.kind == StatementLineKind.ADJUSTMENT
    )
    statement.amount_due_cents = sum(line.amount_cents for line in lines)
    statement.save()
    after = _amounts(statement)
    if created:
        StatementEvent.objects.create(
            statement=statement,
            kind=StatementEventKind.GENERATED,
            actor=actor,
            changes={name: [None, value] for name, value in after.items()},
        )
    elif after != before:
        StatementEvent.objects.create(
            statement=statement,
            kind=StatementEventKind.REGENERATED,
            actor=actor,
            changes={
                name: [before[name], after[name]]
                for name in AUDITED_AMOUNTS
                if before[name] != after[name]
            },
        )
    return statement


def _line_values(lines: list[StatementLine]) -> list[tuple[object, ...]]:
    fields = [
        "kind",
        "market_id",
        "adjusts_period",
        "recognized_cents",
        "refunds_cents",
        "net_cents",
        "share_cents",
        "recoupment_cents",
        "amount_cents",
        "active_members",
        "new_members",
        "churned_members",
    ]
    return [tuple(getattr(line, name) for name in fields) for line in lines]


def statements_generate(*, period: dt.date, actor: User | None = None) -> list[Statement]:
    """A statement for every partner with an agreement in force during the month."""
    first, last = month_bounds(period)
    partner_ids = (
        RevenueShareAgreement.objects.filter(effective_from__lte=last)
        .filter(Q(effective_until__isnull=True) | Q(effective_until__gt=first))
        .values_list("partner_id", flat=True)
        .distinct()
    )
    return [
        statement_generate(partner=partner, period=first, actor=actor)
        for partner in Partner.objects.filter(pk__in=partner_ids).order_by("id")
    ]


def _transition(statement: Statement, to: StatementStatus) -> None:
    current = StatementStatus(statement.status)
    if to not in ALLOWED_TRANSITIONS[current]:
        raise ConflictError(
            f"A {current} statement cannot become {to}.",
            details={"from": current, "to": to},
        )
    statement.status = to


@transaction.atomic
def statement_approve(*, statement: Statement, actor: User) -> Statement:
    """Lock the statement (regenerated one last time) and accrue its amount to the partner's
    payable account, by market."""
    locked = Statement.objects.select_for_update().get(pk=statement.pk)
    if locked.status == StatementStatus.DRAFT:
        locked = statement_generate(partner=locked.partner, period=locked.period, actor=actor)
    _transition(locked, StatementStatus.APPROVED)
    payable = chart.partner_payable_account(locked.partner_id)
    expense = chart.account_get(chart.REVENUE_SHARE)
    postings: list[PostingInput] = []
    for line in locked.lines.order_by("id"):
        postings += debit_credit(
            debit=expense,
            credit=payable,
            amount_cents=line.amount_cents,
            dimensions=Dimensions(partner_id=locked.partner_id, market_id=line.market_id),
        )
    journal_entry_post(
        idempotency_key=f"statement:{locked.pk}:accrual",
        kind="revenue_share_accrual",
        occurred_on=clock.today(),
        postings=postings,
        memo=f"revenue share {locked.period:%Y-%m}",
    )
    locked.approved_at = clock.now()
    locked.approved_by = actor
    locked.save(update_fields=["status", "approved_at", "approved_by"])
    StatementEvent.objects.create(
        statement=locked,
        kind=StatementEventKind.APPROVED,
        actor=actor,
        changes={"status": [StatementStatus.DRAFT, StatementStatus.APPROVED]},
    )
    return locked


@transaction.atomic
def statement_payout_record(*, statement: Statement, actor: User, reference: str) -> Statement:
    """The partner was paid the statement's amount: Dr payable, Cr operating cash."""
    locked = Statement.objects.select_for_update().get(pk=statement.pk)
    _transition(locked, StatementStatus.PAID)
    journal_entry_post(
        idempotency_key=f"statement:{locked.pk}:payout",
        kind="partner_payout",
        occurred_on=clock.today(),
        postings=debit_credit(
            debit=chart.partner_payable_account(locked.partner_id),
            credit=chart.account_get(chart.CASH_OPERATING),
            amount_cents=locked.amount_due_cents,
            dimensions=Dimensions(partner_id=locked.partner_id),
        ),
        memo=f"payout {reference}"[:500],
    )
    locked.paid_at = clock.now()
    locked.payout_reference = reference
    locked.save(update_fields=["status", "paid_at", "payout_reference"])
    StatementEvent.objects.create(
        statement=locked,
        kind=StatementEventKind.PAYOUT_RECORDED,
        actor=actor,
        changes={
            "status": [StatementStatus.APPROVED, StatementStatus.PAID],
            "payout_reference": ["", reference],
        },
    )
    return locked
