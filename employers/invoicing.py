"""Employer invoicing: the monthly invoice of each employer for its enrolled member-months, and
the member's own share of a partly sponsored month.

Rules:
- **In arrears.** The invoice for month M is created on the contract's `billing_day` of month
  M+1 (the contract: the latest contract window that overlaps M). `employer_invoicing_run(as_of=D)`
  bills every month M whose billing day is on or before D and that has no `EmployerInvoice` yet,
  from the month of the employer's first enrollment on, so a missed run catches up.
- **Covered days.** An enrollment covers month M on the days of [starts_on, ends_on] (both
  included; open-ended while `ends_on` is null) that fall in M and in a contract window.
- **Proration.** A member's line is `round_half_up(share * covered_days / days_in_M)` cents
  (billing/proration.py `prorated_charge_cents`): a full month is exactly the share, June (30
  days) at a $50.00 share is 5000 for the month, 2667 from the 15th (16 days), 3333 up to the
  20th (20 days). When the contract changes within M, each window's days count at that window's
  rate and the sum is rounded once (`round_half_up((r1*d1 + r2*d2) / days_in_M)`).
- **One line per member** (`InvoiceLine` of kind `employer_seat`, its period the covered days),
  described with the member's name as on the employer's roster and the days; lines in name
  order. One invoice per employer and month (`EmployerInvoice`, unique), sent by Stripe with
  `collection_method=send_invoice` and `days_until_due` = the contract's net days, to the
  employer's billing customer (created with the employer's billing email when missing).
  Posting to the ledger happens when Stripe finalizes it (`invoice_finalized`: receivable from
  employers, with the member's market and partner on each line).
- **Nothing to bill, no invoice.** A month without a covered member-month (or whose employer
  lines are all zero) gets no employer invoice; the next run looks at it again, so an enrollment
  entered late for that month is still billed. An enrollment entered late for a month that was
  already invoiced is not added to it (a correction is a manual adjustment).
- **Member shares.** Under a contract with a fixed contribution, the member pays the rest
  (`member_share_cents`) per month, prorated by the same rule, in the same run: one invoice per
  member and month with one `member_share` line, charged automatically to the member's own
  billing customer (their default card). The database allows one such line per membership and
  period start. A member without a billing customer is skipped and counted in the report. A
  declined share is recorded as a failed payment on the open invoice (it can be charged again
  with `invoice_pay_retry`); it does not touch the membership (dunning only acts on membership
  fees) nor the employer's invoice.
- **Periods.** Sponsored memberships have calendar-month periods: each run moves the current
  period of every active sponsored membership forward to the month of `as_of` (never back).
- **Safe to re-run and to run concurrently.** Each employer is billed in its own transaction
  under its row lock, taken with `SKIP LOCKED` (a concurrent run leaves it to the one holding
  it); a billed month has its `EmployerInvoice`, and the unique constraints on `EmployerInvoice`
  and on the lines refuse a second one whoever tries.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from billing.models import BillingCustomer, CollectionMethod, InvoiceLine, InvoiceLineKind
from billing.proration import period_days, prorated_charge_cents
from billing.services import InvoiceLineInput, billing_customer_create, invoice_create
from employers.models import Employer, EmployerContract, EmployerInvoice, Enrollment
from memberships.models import Membership, MembershipStatus

logger = logging.getLogger(__name__)


# --- months --------------------------------------------------------------------------------------


def month_first(day: dt.date) -> dt.date:
    return day.replace(day=1)


def month_last(month: dt.date) -> dt.date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def month_next(month: dt.date) -> dt.date:
    return month_last(month) + dt.timedelta(days=1)


def months_between(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    """The first days of the months from `first`'s through `last`'s."""
    month = month_first(first)
    while month <= last:
        yield month
        month = month_next(month)


def contract_last_day(contract: EmployerContract) -> dt.date | None:
    """The contract's last day in force (its `effective_until` is exclusive)."""
    if contract.effective_until is None:
        return None
    return contract.effective_until - dt.timedelta(days=1)


def contracts_in_force(
    contracts: Sequence[EmployerContract], month: dt.date
) -> list[EmployerContract]:
    """The contract windows that overlap `month`, oldest first."""
    first, last = month, month_last(month)
    return [
        c
        for c in sorted(contracts, key=lambda c: c.effective_from)
        if c.effective_from <= last and (c.effective_until is None or c.effective_until > first)
    ]


def employer_month_billing_date(*, contract: EmployerContract, month: dt.date) -> dt.date:
    """The day the invoice for `month` is due to be made: the contract's billing day of the
    following month."""
    return month_next(month).replace(day=contract.billing_day)


# --- what a month costs --------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberMonth:
    """One enrolled member's part of one month: covered days and what each side pays."""

    membership_id: int
    user_id: int
    member_name: str
    period_start: dt.date
    period_end: dt.date
    covered_days: int
    month_days: int
    employer_cents: int
    member_cents: int

    def description(self, *, whose: str) -> str:
        days = f"{self.covered_days} of {self.month_days} days"
        span = f"{self.period_start:%b} {self.period_start.day}-{self.period_end.day}"
        return f"{self.member_name}: {whose} {span} {self.period_start.year} ({days})"


def member_months_compute(
    *, employer: Employer, month: dt.date, contracts: Sequence[EmployerContract]
) -> list[MemberMonth]:
    """Each enrollment's covered days in `month` and their price under `contracts` (the windows
    in force that month), in member-name order. See the module docstring for the rule."""
    first, last = month, month_last(month)
    month_days = period_days(first, last)
    enrollments = (
        Enrollment.objects.filter(employer=employer, starts_on__lte=last)
        .exclude(ends_on__lt=first)
        .select_related("entry", "membership__member")
        .order_by("entry__full_name", "id")
    )
    result: list[MemberMonth] = []
    for enrollment in enrollments:
        start = max(enrollment.starts_on, first)
        end = min(enrollment.ends_on or last, last)
        employer_parts: list[tuple[int, int]] = []
        member_parts: list[tuple[int, int]] = []
        covered: list[tuple[dt.date, dt.date]] = []
        for contract in contracts:
            window_start = max(start, contract.effective_from)
            window_end = min(end, contract_last_day(contract) or end)
            if window_end < window_start:
                continue
            days = period_days(window_start, window_end)
            employer_parts.append((contract.employer_share_cents, days))
            member_parts.append((contract.member_share_cents, days))
            covered.append((window_start, window_end))
        if not covered:
            continue
        result.append(
            MemberMonth(
                membership_id=enrollment.membership_id,
                user_id=enrollment.membership.member.user_id,
                member_name=enrollment.entry.full_name,
                period_start=min(s for s, _ in covered),
                period_end=max(e for _, e in covered),
                covered_days=sum(d for _, d in employer_parts),
                month_days=month_days,
                employer_cents=prorated_charge_cents(parts=employer_parts, period_days=month_days),
                member_cents=prorated_charge_cents(parts=member_parts, period_days=month_days),
            )
        )
    return result


# --- the run -------------------------------------------------------------------------------------


@dataclass
class EmployerInvoicingReport:
    employer_invoices: int = 0
    employer_lines: int = 0
    employer_cents: int = 0
    member_share_invoices: int = 0
    member_shares_without_customer: int = 0
    employers_busy: int = 0  # held by a concurrent run, which bills them
    memberships_advanced: int = 0

    def summary(self) -> str:
        return (
            f"{self.employer_invoices} employer invoices ({self.employer_lines} member lines, "
            f"{self.employer_cents} cents), {self.member_share_invoices} member share invoices, "
            f"{self.member_shares_without_customer} member shares skipped (no billing customer), "
            f"{self.employers_busy} employers left to a concurrent run, "
            f"{self.memberships_advanced} sponsored memberships moved to the current month"
        )


def employer_invoicing_run(
    *, as_of: dt.date, progress: Callable[[EmployerInvoicingReport], None] | None = None
) -> EmployerInvoicingReport:
    """Bill every employer month (and member share) due on `as_of`, and move sponsored
    memberships' periods to `as_of`'s month. See the module docstring."""
    report = EmployerInvoicingReport()
    report.memberships_advanced = sponsored_membership_periods_advance(as_of=as_of)
    employer_ids = (
        Enrollment.objects.filter(starts_on__lt=month_first(as_of))
        .order_by("employer_id")
        .values_list("employer_id", flat=True)
        .distinct()
    )
    for employer_id in list(employer_ids):
        _employer_due_months_bill(employer_id=employer_id, as_of=as_of, report=report)
        if progress is not None:
            progress(report)
    return report


@transaction.atomic
def sponsored_membership_periods_advance(*, as_of: dt.date) -> int:
    """Move the current period of active sponsored memberships to the calendar month of
    `as_of` (only forward; a second call the same month changes nothing)."""
    first = month_first(as_of)
    return Membership.objects.filter(
        sponsor__isnull=False, status=MembershipStatus.ACTIVE, current_period_start__lt=first
    ).update(current_period_start=first, current_period_end=month_last(first))


@transaction.atomic
def _employer_due_months_bill(
    *, employer_id: int, as_of: dt.date, report: EmployerInvoicingReport
) -> None:
    employer = Employer.objects.select_for_update(skip_locked=True).filter(pk=employer_id).first()
    if employer is None:
        report.employers_busy += 1
        return
    contracts = list(employer.contracts.all())
    first_start = (
        Enrollment.objects.filter(employer=employer)
        .order_by("starts_on")
        .values_list("starts_on", flat=True)
        .first()
    )
    if not contracts or first_start is None:
        return
    invoiced = set(
        EmployerInvoice.objects.filter(employer=employer).values_list("period", flat=True)
    )
    last_month = month_first(as_of) - dt.timedelta(days=1)
    for month in months_between(first_start, last_month):
        if month in invoiced:
            continue
        in_force = contracts_in_force(contracts, month)
        if not in_force:
            continue
        terms = in_force[-1]  # billing day, net days and currency of the latest window
        if as_of < employer_month_billing_date(contract=terms, month=month):
            continue
        member_months = member_months_compute(employer=employer, month=month, contracts=in_force)
        _employer_month_invoice(
            employer=employer, month=month, terms=terms, member_months=member_months, report=report
        )
        _member_share_invoices(terms=terms, member_months=member_months, report=report)


def _employer_month_invoice(
    *,
    employer: Employer,
    month: dt.date,
    terms: EmployerContract,
    member_months: Sequence[MemberMonth],
    report: EmployerInvoicingReport,
) -> None:
    lines = [
        InvoiceLineInput(
            description=m.description(whose="membership"),
            amount_cents=m.employer_cents,
            period_start=m.period_start,
            period_end=m.period_end,
            kind=InvoiceLineKind.EMPLOYER_SEAT,
            membership_id=m.membership_id,
        )
        for m in member_months
        if m.employer_cents > 0
    ]
    if not lines:
        return
    customer = _employer_billing_customer(employer=employer)
    try:
        with transaction.atomic():
            invoice = invoice_create(
                customer=customer,
                lines=lines,
                collection_method=CollectionMethod.SEND_INVOICE,
                days_until_due=terms.net_days,
                description=f"{employer.name}: sponsored memberships, {month:%B %Y}",
                currency=terms.currency,
            )
            EmployerInvoice.objects.create(employer=employer, period=month, invoice=invoice)
    except IntegrityError:
        logger.info("Employer %s was already invoiced for %s", employer.pk, month)
        return
    report.employer_invoices += 1
    report.employer_lines += len(lines)
    report.employer_cents += invoice.total_cents


def _employer_billing_customer(*, employer: Employer) -> BillingCustomer:
    """The employer's billing customer, created with its billing email when missing (also when
    something else creates it at the same moment: the database keeps one per employer)."""
    customer = BillingCustomer.objects.filter(employer=employer).first()
    if customer is not None:
        return customer
    try:
        with transaction.atomic():
            return billing_customer_create(
                email=employer.billing_email, name=employer.name, employer=employer
            )
    except IntegrityError:
        return BillingCustomer.objects.get(employer=employer)


def _member_share_invoices(
    *,
    terms: EmployerContract,
    member_months: Sequence[MemberMonth],
    report: EmployerInvoicingReport,
) -> None:
    for m in member_months:
        if m.member_cents <= 0:
            continue
        if InvoiceLine.objects.filter(
            kind=InvoiceLineKind.MEMBER_SHARE,
            membership_id=m.membership_id,
            period_start=m.period_start,
        ).exists():
            continue
        customer = BillingCustomer.objects.filter(user_id=m.user_id).first()
        if customer is None:
            logger.warning(
                "Membership %s has no billing customer: its share from %s is not billed",
                m.membership_id,
                m.period_start,
            )
            report.member_shares_without_customer += 1
            continue
        try:
            with transaction.atomic():
                invoice_create(
                    customer=customer,
                    lines=[
                        InvoiceLineInput(
                            description=m.description(whose="your share of the membership"),
                            amount_cents=m.member_cents,
                            period_start=m.period_start,
                            period_end=m.period_end,
                            kind=InvoiceLineKind.MEMBER_SHARE,
                            membership_id=m.membership_id,
                        )
                    ],
                    collection_method=CollectionMethod.CHARGE_AUTOMATICALLY,
                    description="Your share of your sponsored membership",
                    currency=terms.currency,
                )
        except IntegrityError:
            continue  # billed meanwhile
        report.member_share_invoices += 1
