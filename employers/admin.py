"""Django admin for employers: read-mostly. Changes go through the API (and its services), which
keep the roster history, the Stripe customer and the scoping rules; here staff look things up."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from employers.models import (
    Employer,
    EmployerContract,
    EmployerInvoice,
    Enrollment,
    RosterChange,
    RosterEntry,
    RosterImport,
)


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """Viewing only: no add, change or delete (history is never deleted)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class EmployerContractInline(admin.TabularInline[EmployerContract, Employer]):
    model = EmployerContract
    extra = 0
    can_delete = False
    readonly_fields = (
        "pepm_cents",
        "currency",
        "contribution_kind",
        "contribution_cents",
        "billing_day",
        "net_days",
        "effective_from",
        "effective_until",
    )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Employer)
class EmployerAdmin(admin.ModelAdmin[Employer]):
    list_display = ("id", "name", "code", "billing_email", "created_at")
    search_fields = ("name", "code")
    readonly_fields = ("code", "created_at")
    inlines = (EmployerContractInline,)


@admin.register(EmployerContract)
class EmployerContractAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "employer",
        "pepm_cents",
        "contribution_kind",
        "contribution_cents",
        "billing_day",
        "net_days",
        "effective_from",
        "effective_until",
    )
    list_filter = ("contribution_kind",)
    search_fields = ("employer__name",)
    list_select_related = ("employer",)


@admin.register(RosterEntry)
class RosterEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "employer",
        "external_id",
        "full_name",
        "eligible_from",
        "eligible_until",
        "updated_at",
    )
    search_fields = ("external_id", "full_name", "employer__name")
    list_select_related = ("employer",)
    show_full_result_count = False  # rosters are large


@admin.register(RosterChange)
class RosterChangeAdmin(ReadOnlyAdmin):
    list_display = ("id", "employer", "entry", "kind", "actor", "roster_import", "created_at")
    list_filter = ("kind",)
    search_fields = ("entry__external_id", "employer__name")
    list_select_related = ("employer", "entry", "actor")
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(RosterImport)
class RosterImportAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "employer",
        "status",
        "replace",
        "total_rows",
        "error_count",
        "created_at",
        "applied_at",
    )
    list_filter = ("status", "replace")
    list_select_related = ("employer",)
    exclude = ("content",)  # the uploaded file: personal data, and large


@admin.register(Enrollment)
class EnrollmentAdmin(ReadOnlyAdmin):
    list_display = ("id", "employer", "entry", "membership", "starts_on", "ends_on")
    list_select_related = ("employer", "entry")
    search_fields = ("entry__external_id", "employer__name")


@admin.register(EmployerInvoice)
class EmployerInvoiceAdmin(ReadOnlyAdmin):
    list_display = ("id", "employer", "period", "invoice", "created_at")
    list_select_related = ("employer",)
