"""The employer-admin pages: the roster (search, filter, paginate, add, terminate), the roster
CSV import (upload, progress, preview with row errors, confirmation, applied counts) and the
employer's invoices.

Thin views over the same services, selectors and scoping as the API (`employers/roster.py`,
`employers/imports.py`, `employers/selectors.py`, the invoice API's querysets): a page names
the roles it serves (`EMPLOYER_ROLES`, else 403) and looks the employer of its path up through
`Employer.objects.visible_to` (another employer's pages are a 404, like a missing one). Every
object of the path is then looked up within that employer. POSTs redirect after success with a
notice; a service's refusal is shown as a message or on the form field it names."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from django import forms
from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View

from accounts.models import Role, User
from billing.money import money_display
from billing.proration import period_days
from config import clock
from config.errors import DomainError
from employers.imports import (
    RosterFileInvalidError,
    RosterFileTooLargeError,
    roster_import_confirm,
    roster_import_create,
    roster_import_errors,
    roster_import_rows,
    roster_import_terminated,
    roster_import_terminations,
)
from employers.models import (
    Employer,
    EmployerInvoice,
    RosterEntry,
    RosterImport,
    RosterImportAction,
    RosterImportRow,
    RosterImportStatus,
)
from employers.roster import RosterEntryInput, roster_entry_add, roster_entry_terminate
from employers.selectors import (
    RosterStatus,
    employer_invoice_amount_due_cents,
    employer_invoice_due_on,
    employer_invoices,
    employer_invoices_with_lines,
    roster_entries_filtered,
    roster_entry_status,
)
from web.access import EMPLOYER_ROLES, RolePageMixin
from web.employer_forms import (
    RosterEntryAddForm,
    RosterFilterForm,
    RosterImportConfirmForm,
    RosterImportUploadForm,
    RosterTerminateForm,
)

ROSTER_PAGE_SIZE = 25
IMPORT_ROWS_PAGE_SIZE = 25
IMPORT_ERRORS_PAGE_SIZE = 50
RECENT_IMPORTS = 10
INVOICES_PAGE_SIZE = 25
IN_PROGRESS = (
    RosterImportStatus.QUEUED,
    RosterImportStatus.VALIDATING,
    RosterImportStatus.APPLYING,
)


# --- helpers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Paged:
    """A page of a list and the links to its neighbours (the other query parameters kept, so
    several lists of one page paginate independently)."""

    page: Page[Any]
    previous_url: str
    next_url: str

    def __iter__(self) -> Iterator[Any]:
        return iter(self.page)


def _page(request: HttpRequest, items: Any, *, param: str, size: int) -> Paged:
    page = Paginator(items, size).get_page(request.GET.get(param))

    def link(number: int) -> str:
        query = request.GET.copy()
        query[param] = str(number)
        return f"?{query.urlencode()}"

    return Paged(
        page=page,
        previous_url=link(page.previous_page_number()) if page.has_previous() else "",
        next_url=link(page.next_page_number()) if page.has_next() else "",
    )


def _errors_onto_form(form: forms.Form, error: DomainError) -> None:
    """Put a service's refusal on the form: field errors (`InvalidInputError`'s details, or a
    conflict's `details.field`) on their fields, anything else on the form."""
    placed = False
    for field, problems in error.details.items():
        if field in form.fields and isinstance(problems, list):
            for problem in problems:
                form.add_error(field, str(problem.get("message", problem)))
                placed = True
    named = error.details.get("field")
    if not placed and isinstance(named, str) and named in form.fields:
        form.add_error(named, error.message)
        placed = True
    if not placed:
        form.add_error(None, error.message)


def _caller(request: HttpRequest) -> User:
    return cast(User, request.user)  # RolePageMixin let only logged-in users in


class EmployerPageMixin(RolePageMixin):
    """For a page under /employer/<employer_id>/: the roles of EMPLOYER_ROLES (else 403), and
    `self.employer` the employer of the path when the caller may see it (else 404), looked up
    first by every handler."""

    allowed_roles: ClassVar[frozenset[Role]] = EMPLOYER_ROLES
    employer: Employer
    kwargs: dict[str, Any]  # the view's URL arguments (set by View.setup)

    def setup_employer(self) -> None:
        self.employer = get_object_or_404(
            Employer.objects.visible_to(self.access), pk=self.kwargs["employer_id"]
        )


class EmployerPage(EmployerPageMixin, View):
    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.setup_employer()
        return self.show(request)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.setup_employer()
        return self.submit(request)

    def show(self, request: HttpRequest) -> HttpResponse:
        raise NotImplementedError

    def submit(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse(status=405)

    def url(self, name: str, **kwargs: Any) -> str:
        return reverse(f"web:{name}", kwargs={"employer_id": self.employer.pk, **kwargs})


# --- roster ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RosterRow:
    entry: RosterEntry
    status: RosterStatus


class RosterPage(EmployerPage):
    """The roster: search and status filter, a page of entries, and the add form."""

    def show(
        self, request: HttpRequest, add_form: RosterEntryAddForm | None = None
    ) -> HttpResponse:
        filters = RosterFilterForm(request.GET)
        entries = roster_entries_filtered(
            employer=self.employer, status=filters.status_given(), q=filters.q_given()
        )
        page = _page(request, entries, param="page", size=ROSTER_PAGE_SIZE)
        today = clock.today()
        rows = [RosterRow(entry, roster_entry_status(entry=entry, on=today)) for entry in page]
        return render(
            request,
            "web/employer/roster.html",
            {
                "employer": self.employer,
                "filters": filters,
                "page": page,
                "rows": rows,
                "add_form": add_form or RosterEntryAddForm(),
            },
            status=200 if add_form is None or add_form.is_valid() else 400,
        )

    def submit(self, request: HttpRequest) -> HttpResponse:
        form = RosterEntryAddForm(request.POST)
        if not form.is_valid():
            return self.show(request, add_form=form)
        try:
            entry = roster_entry_add(
                employer=self.employer,
                data=RosterEntryInput(**form.cleaned_data),
                actor=_caller(request),
            )
        except DomainError as error:
            _errors_onto_form(form, error)
            return self.show(request, add_form=form)
        messages.success(request, f"{entry.full_name} ({entry.external_id}) was added.")
        return redirect(self.url("employer-roster"))


class RosterTerminatePage(EmployerPage):
    """Terminate one entry: the last eligible day, then a confirmation step (a second POST
    with `confirmed`), then the service."""

    def entry(self) -> RosterEntry:
        return get_object_or_404(
            RosterEntry.objects.filter(employer=self.employer), pk=self.kwargs["entry_id"]
        )

    def render_step(
        self, request: HttpRequest, entry: RosterEntry, form: RosterTerminateForm, confirm: bool
    ) -> HttpResponse:
        return render(
            request,
            "web/employer/roster_terminate.html",
            {
                "employer": self.employer,
                "entry": entry,
                "status": roster_entry_status(entry=entry, on=clock.today()),
                "form": form,
                "confirm": confirm,
            },
            status=400 if form.errors else 200,
        )

    def show(self, request: HttpRequest) -> HttpResponse:
        return self.render_step(request, self.entry(), RosterTerminateForm(), confirm=False)

    def submit(self, request: HttpRequest) -> HttpResponse:
        entry = self.entry()
        form = RosterTerminateForm(request.POST)
        if not form.is_valid():
            return self.render_step(request, entry, form, confirm=False)
        if not form.cleaned_data["confirmed"]:
            return self.render_step(request, entry, form, confirm=True)
        effective_date: dt.date = form.cleaned_data["effective_date"]
        try:
            roster_entry_terminate(
                entry=entry, effective_date=effective_date, actor=_caller(request)
            )
        except DomainError as error:
            _errors_onto_form(form, error)
            return self.render_step(request, entry, form, confirm=False)
        messages.success(
            request,
            f"{entry.full_name} ({entry.external_id}) is terminated; "
            f"last eligible day {effective_date.isoformat()}.",
        )
        return redirect(self.url("employer-roster"))


# --- roster import -----------------------------------------------------------------------------


class RosterImportUploadPage(EmployerPage):
    """The upload form and the employer's recent imports."""

    def show(
        self, request: HttpRequest, form: RosterImportUploadForm | None = None
    ) -> HttpResponse:
        recent = (
            RosterImport.objects.visible_to(self.access)
            .filter(employer=self.employer)
            .defer("content", "errors")
            .select_related("uploaded_by")
            .order_by("-created_at", "-id")[:RECENT_IMPORTS]
        )
        return render(
            request,
            "web/employer/roster_import_upload.html",
            {"employer": self.employer, "form": form or RosterImportUploadForm(), "recent": recent},
            status=400 if form is not None and form.errors else 200,
        )

    def submit(self, request: HttpRequest) -> HttpResponse:
        form = RosterImportUploadForm(request.POST, request.FILES)
        if not form.is_valid():
            return self.show(request, form)
        file = form.cleaned_data["file"]
        try:
            created = roster_import_create(
                employer=self.employer,
                uploaded_by=_caller(request),
                file_name=file.name or "",
                content=file.read(),
                replace=form.cleaned_data["replace"],
            )
        except (RosterFileInvalidError, RosterFileTooLargeError) as error:
            form.add_error("file", error.message)
            return self.show(request, form)
        messages.success(request, f"{created.file_name or 'The file'} was uploaded.")
        return redirect(self.url("employer-roster-import", import_id=created.pk))


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class UpdateRow:
    row: RosterImportRow
    changes: list[FieldChange]


_COMPARED_FIELDS = ("full_name", "work_email", "date_of_birth", "eligible_from", "eligible_until")


def _update_row(row: RosterImportRow) -> UpdateRow:
    """A row that updates an entry, with what it changes (while the entry is as previewed)."""
    if row.entry is None:
        return UpdateRow(row, [])
    return UpdateRow(
        row,
        [
            FieldChange(field, getattr(row.entry, field), getattr(row, field))
            for field in _COMPARED_FIELDS
            if getattr(row.entry, field) != getattr(row, field)
        ],
    )


class RosterImportScopedPage(EmployerPage):
    def roster_import(self) -> RosterImport:
        return get_object_or_404(
            RosterImport.objects.visible_to(self.access)
            .filter(employer=self.employer)
            .defer("content", "errors")
            .select_related("uploaded_by", "confirmed_by"),
            pk=self.kwargs["import_id"],
        )


class RosterImportPage(RosterImportScopedPage):
    """One import: progress while queued, validating or applying; then the preview (counts,
    row errors, rows to add and update, terminations) and the confirm form; then the applied
    counts."""

    def show(self, request: HttpRequest) -> HttpResponse:
        roster_import = self.roster_import()
        status = RosterImportStatus(roster_import.status)
        context: dict[str, Any] = {
            "employer": self.employer,
            "roster_import": roster_import,
            "in_progress": status in IN_PROGRESS,
            "is_preview": status == RosterImportStatus.PREVIEW,
            "is_applied": status == RosterImportStatus.APPLIED,
            "is_failed": status == RosterImportStatus.FAILED,
        }
        if status in (RosterImportStatus.PREVIEW, RosterImportStatus.APPLIED):
            context.update(self.preview(request, roster_import, status))
        if status == RosterImportStatus.PREVIEW:
            context["confirm_form"] = RosterImportConfirmForm()
        return render(request, "web/employer/roster_import.html", context)

    def preview(
        self, request: HttpRequest, roster_import: RosterImport, status: RosterImportStatus
    ) -> dict[str, Any]:
        errors = _page(
            request,
            roster_import_errors(roster_import=roster_import) if roster_import.error_count else [],
            param="errors_page",
            size=IMPORT_ERRORS_PAGE_SIZE,
        )
        to_add = _page(
            request,
            roster_import_rows(roster_import=roster_import, action=RosterImportAction.ADD),
            param="add_page",
            size=IMPORT_ROWS_PAGE_SIZE,
        )
        to_update = _page(
            request,
            roster_import_rows(
                roster_import=roster_import, action=RosterImportAction.UPDATE
            ).select_related("entry"),
            param="update_page",
            size=IMPORT_ROWS_PAGE_SIZE,
        )
        today = clock.today()
        applied = status == RosterImportStatus.APPLIED
        terminations: QuerySet[RosterEntry] = RosterEntry.objects.none()
        if roster_import.replace:
            terminations = (
                roster_import_terminated(roster_import=roster_import)
                if applied
                else roster_import_terminations(roster_import=roster_import, last_day=today)
            )
        terminated = _page(
            request,
            terminations.order_by("external_id", "id"),
            param="terminations_page",
            size=IMPORT_ROWS_PAGE_SIZE,
        )
        return {
            "errors": errors,
            "to_add": to_add,
            "to_update": to_update,
            "update_rows": [_update_row(row) for row in to_update],
            "terminations": terminated,
            "termination_rows": [
                (entry, entry.eligible_until if applied else max(today, entry.eligible_from))
                for entry in terminated
            ],
        }


class RosterImportConfirmAction(RosterImportScopedPage):
    """POST only: confirm the previewed import through the service; its refusal (errors in the
    file without "only the valid rows", not in preview) becomes an error message."""

    def show(self, request: HttpRequest) -> HttpResponse:
        roster_import = self.roster_import()  # another employer's import is a 404 here too
        return redirect(self.url("employer-roster-import", import_id=roster_import.pk))

    def submit(self, request: HttpRequest) -> HttpResponse:
        roster_import = self.roster_import()
        form = RosterImportConfirmForm(request.POST)
        form.is_valid()  # a single optional checkbox: always valid
        try:
            confirmed = roster_import_confirm(
                roster_import=roster_import,
                actor=_caller(request),
                valid_rows_only=bool(form.cleaned_data.get("valid_rows_only")),
            )
        except DomainError as error:
            messages.error(request, error.message)
        else:
            skipped = " (the rows with errors are skipped)" if confirmed.valid_rows_only else ""
            messages.success(request, f"The import was confirmed and is being applied{skipped}.")
        return redirect(self.url("employer-roster-import", import_id=roster_import.pk))


# --- invoices ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceRow:
    """One employer invoice as the pages show it; the amount due and due date come from the
    invoice API's serializer, so both show the same figures."""

    id: int
    period: dt.date
    number: str
    status: str
    total: str
    paid: str
    due: str
    due_on: dt.date | None
    days_until_due: int | None
    hosted_invoice_url: str


def _invoice_row(row: EmployerInvoice) -> InvoiceRow:
    invoice = row.invoice
    currency = invoice.currency
    return InvoiceRow(
        id=row.pk,
        period=row.period,
        number=invoice.number or "",
        status=invoice.status,
        total=money_display(amount_cents=invoice.total_cents, currency=currency),
        paid=money_display(amount_cents=invoice.amount_paid_cents, currency=currency),
        due=money_display(
            amount_cents=employer_invoice_amount_due_cents(invoice=invoice), currency=currency
        ),
        due_on=employer_invoice_due_on(invoice=invoice),
        days_until_due=invoice.days_until_due,
        hosted_invoice_url=invoice.hosted_invoice_url or "",
    )


@dataclass(frozen=True)
class InvoiceLineRow:
    member_name: str
    description: str
    period_start: dt.date
    period_end: dt.date
    days: int
    amount: str


class InvoiceListPage(EmployerPage):
    def show(self, request: HttpRequest) -> HttpResponse:
        invoices = employer_invoices().visible_to(self.access).filter(employer=self.employer)
        page = _page(request, invoices, param="page", size=INVOICES_PAGE_SIZE)
        return render(
            request,
            "web/employer/invoices.html",
            {"employer": self.employer, "page": page, "rows": [_invoice_row(r) for r in page]},
        )


class InvoiceDetailPage(EmployerPage):
    def show(self, request: HttpRequest) -> HttpResponse:
        row = get_object_or_404(
            employer_invoices_with_lines().visible_to(self.access).filter(employer=self.employer),
            pk=self.kwargs["invoice_id"],
        )
        currency = row.invoice.currency
        lines = []
        for line in row.invoice.lines.all():
            enrollment = getattr(line.membership, "enrollment", None) if line.membership else None
            lines.append(
                InvoiceLineRow(
                    member_name=enrollment.entry.full_name if enrollment is not None else "",
                    description=line.description,
                    period_start=line.period_start,
                    period_end=line.period_end,
                    days=period_days(line.period_start, line.period_end),
                    amount=money_display(amount_cents=line.amount_cents, currency=currency),
                )
            )
        return render(
            request,
            "web/employer/invoice.html",
            {"employer": self.employer, "invoice": _invoice_row(row), "lines": lines},
        )
