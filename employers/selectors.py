"""Employer reads: contracts, the roster (filtered, searched, ordered) and its history.

Each returns a scoped queryset narrowed to one employer; the API applies the caller's scope on
top (`visible_to`) and paginates. Nothing here runs a query per row."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from django.conf import settings
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from accounts.models import Role, RoleGrant
from billing.models import Invoice, InvoiceLine, InvoiceStatus
from config import clock
from employers.models import (
    Employer,
    EmployerContract,
    EmployerInvoice,
    EmployerInvoiceQuerySet,
    RosterChange,
    RosterChangeQuerySet,
    RosterEntry,
    RosterEntryQuerySet,
    RosterImport,
    RosterImportStatus,
)


class RosterStatus(StrEnum):
    """Where an entry stands on a day (today unless said otherwise)."""

    ACTIVE = "active"  # eligible that day
    TERMINATED = "terminated"  # eligibility ended before that day
    FUTURE = "future"  # eligibility starts after that day


def roster_entry_status(*, entry: RosterEntry, on: dt.date) -> RosterStatus:
    if entry.eligible_from > on:
        return RosterStatus.FUTURE
    if entry.eligible_until is not None and entry.eligible_until < on:
        return RosterStatus.TERMINATED
    return RosterStatus.ACTIVE


def _eligible_on(day: dt.date) -> Q:
    return Q(eligible_from__lte=day) & (Q(eligible_until__isnull=True) | Q(eligible_until__gte=day))


ROSTER_ORDERINGS = (
    "full_name",
    "external_id",
    "work_email",
    "eligible_from",
    "eligible_until",
    "created_at",
    "updated_at",
)


def employer_contracts(*, employer: Employer) -> list[EmployerContract]:
    return list(EmployerContract.objects.filter(employer=employer).order_by("effective_from"))


def roster_entries_filtered(
    *,
    employer: Employer,
    status: RosterStatus | None = None,
    eligible_on: dt.date | None = None,
    q: str = "",
    ordering: str = "full_name",
) -> RosterEntryQuerySet:
    """The employer's roster. `status` is as of `clock.today()`; `eligible_on` keeps entries
    eligible on that day; `q` searches the name and work email (contains, case-insensitive) and
    the external id (exact or prefix); `ordering` is one of ROSTER_ORDERINGS, `-` for
    descending, ties broken by id."""
    query = RosterEntry.objects.filter(employer=employer)
    today = clock.today()
    if status == RosterStatus.ACTIVE:
        query = query.filter(_eligible_on(today))
    elif status == RosterStatus.TERMINATED:
        query = query.filter(eligible_until__lt=today)
    elif status == RosterStatus.FUTURE:
        query = query.filter(eligible_from__gt=today)
    if eligible_on is not None:
        query = query.filter(_eligible_on(eligible_on))
    q = q.strip()
    if q:
        query = query.filter(
            Q(full_name__icontains=q) | Q(work_email__icontains=q) | Q(external_id__istartswith=q)
        )
    field = ordering.removeprefix("-")
    if field not in ROSTER_ORDERINGS:
        raise ValueError(f"unknown roster ordering {ordering!r}")
    descending = ordering.startswith("-")
    return query.order_by(ordering, "-id" if descending else "id")


def roster_changes_filtered(
    *,
    employer: Employer,
    entry_id: int | None = None,
    kind: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> RosterChangeQuerySet:
    """The employer's roster history, newest first. `date_from`/`date_to` are days in the
    business time zone, both included. Each change carries `actor_is_staff_or_admin`: whether
    its actor is staff or an admin of this employer (and not, say, the employee enrolling,
    whose own account the employer has no business seeing)."""
    staff_or_admin = RoleGrant.objects.filter(user_id=OuterRef("actor_id")).filter(
        Q(role__in=[Role.FINANCE_STAFF, Role.OPERATOR_ADMIN])
        | Q(role=Role.EMPLOYER_ADMIN, employer_id=OuterRef("employer_id"))
    )
    query = (
        RosterChange.objects.filter(employer=employer)
        .select_related("actor")
        .annotate(actor_is_staff_or_admin=Exists(staff_or_admin))
    )
    if entry_id is not None:
        query = query.filter(entry_id=entry_id)
    if kind:
        query = query.filter(kind=kind)
    if date_from is not None:
        query = query.filter(created_at__gte=clock.start_of_day(date_from))
    if date_to is not None:
        query = query.filter(created_at__lt=clock.start_of_day(date_to + dt.timedelta(days=1)))
    return query.order_by("-created_at", "-id")


# --- employer invoices -------------------------------------------------------------------------

UNPAID_INVOICE_STATUSES = frozenset(
    {InvoiceStatus.DRAFT, InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE}
)


def employer_invoices() -> EmployerInvoiceQuerySet:
    """Employer invoices with their invoice, newest month first (scope them with
    `visible_to` and filter by employer)."""
    return EmployerInvoice.objects.select_related("invoice").order_by("-period", "-id")


def employer_invoices_with_lines() -> EmployerInvoiceQuerySet:
    """Employer invoices with their lines and each line's member, for one invoice's page."""
    return EmployerInvoice.objects.select_related("invoice").prefetch_related(
        Prefetch(
            "invoice__lines",
            queryset=InvoiceLine.objects.select_related("membership__enrollment__entry").order_by(
                "id"
            ),
        )
    )


def employer_invoice_amount_due_cents(*, invoice: Invoice) -> int:
    """What the employer still owes on it: nothing once it is paid or void."""
    if invoice.status not in UNPAID_INVOICE_STATUSES:
        return 0
    return invoice.amount_remaining_cents


def employer_invoice_due_on(*, invoice: Invoice) -> dt.date | None:
    """The day payment is due (finalized + net days), once it is finalized."""
    if invoice.finalized_at is None or invoice.days_until_due is None:
        return None
    return invoice.finalized_at.date() + dt.timedelta(days=invoice.days_until_due)


def roster_imports_stuck(*, now: dt.datetime) -> QuerySet[RosterImport]:
    """Imports that stopped half-way for longer than STUCK_ROSTER_IMPORT_SECONDS: queued or
    validating since the upload, or applying since the confirmation (a lost task, a killed
    worker). Previews wait for a person and are not stuck."""
    late = now - dt.timedelta(seconds=settings.STUCK_ROSTER_IMPORT_SECONDS)
    return (
        RosterImport.objects.filter(
            Q(
                status__in=[RosterImportStatus.QUEUED, RosterImportStatus.VALIDATING],
                created_at__lt=late,
            )
            | Q(status=RosterImportStatus.APPLYING, confirmed_at__lt=late)
        )
        .defer("content", "errors")
        .order_by("id")
    )
