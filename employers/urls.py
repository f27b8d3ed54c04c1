"""Routes under /api/v1/employers/. Every route of one employer finds it in the caller's scope
first (tests/employers/test_employer_tenancy.py walks them all)."""

from django.urls import path

from employers.apis import (
    EmployerAdminInviteApi,
    EmployerAdminPasswordSetApi,
    EmployerContractEndApi,
    EmployerContractListApi,
    EmployerDetailApi,
    EmployerListApi,
)
from employers.import_apis import (
    RosterImportConfirmApi,
    RosterImportDetailApi,
    RosterImportErrorsApi,
    RosterImportListApi,
    RosterImportRowsApi,
    RosterImportTerminationsApi,
)
from employers.invoice_apis import EmployerInvoiceDetailApi, EmployerInvoiceListApi
from employers.roster_apis import (
    RosterEntryDetailApi,
    RosterEntryHistoryApi,
    RosterEntryListApi,
    RosterEntryTerminateApi,
    RosterHistoryApi,
)

IMPORT = "<int:employer_id>/roster/imports/<int:pk>/"

urlpatterns = [
    # employers, contracts and benefits admins (employers/apis.py)
    path("", EmployerListApi.as_view(), name="employer-list"),
    path("<int:pk>/", EmployerDetailApi.as_view(), name="employer-detail"),
    path(
        "<int:employer_id>/contracts/",
        EmployerContractListApi.as_view(),
        name="employer-contract-list",
    ),
    path(
        "<int:employer_id>/contracts/<int:contract_id>/end/",
        EmployerContractEndApi.as_view(),
        name="employer-contract-end",
    ),
    path("<int:employer_id>/admins/", EmployerAdminInviteApi.as_view(), name="employer-admins"),
    path(
        "admin-invitations/set-password/",
        EmployerAdminPasswordSetApi.as_view(),
        name="employer-admin-password-set",
    ),
    # the roster and its history (employers/roster_apis.py)
    path("<int:employer_id>/roster/", RosterEntryListApi.as_view(), name="roster-list"),
    path("<int:employer_id>/roster/history/", RosterHistoryApi.as_view(), name="roster-history"),
    path(
        "<int:employer_id>/roster/<int:entry_id>/",
        RosterEntryDetailApi.as_view(),
        name="roster-entry-detail",
    ),
    path(
        "<int:employer_id>/roster/<int:entry_id>/terminate/",
        RosterEntryTerminateApi.as_view(),
        name="roster-entry-terminate",
    ),
    path(
        "<int:employer_id>/roster/<int:entry_id>/history/",
        RosterEntryHistoryApi.as_view(),
        name="roster-entry-history",
    ),
    # roster CSV imports (employers/import_apis.py)
    path(
        "<int:employer_id>/roster/imports/",
        RosterImportListApi.as_view(),
        name="roster-import-list",
    ),
    path(IMPORT, RosterImportDetailApi.as_view(), name="roster-import-detail"),
    path(f"{IMPORT}errors/", RosterImportErrorsApi.as_view(), name="roster-import-errors"),
    path(f"{IMPORT}rows/", RosterImportRowsApi.as_view(), name="roster-import-rows"),
    path(
        f"{IMPORT}terminations/",
        RosterImportTerminationsApi.as_view(),
        name="roster-import-terminations",
    ),
    path(f"{IMPORT}confirm/", RosterImportConfirmApi.as_view(), name="roster-import-confirm"),
    # employer invoices (employers/invoice_apis.py)
    path(
        "<int:employer_id>/invoices/",
        EmployerInvoiceListApi.as_view(),
        name="employer-invoice-list",
    ),
    path(
        "<int:employer_id>/invoices/<int:pk>/",
        EmployerInvoiceDetailApi.as_view(),
        name="employer-invoice-detail",
    ),
]
