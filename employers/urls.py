from django.urls import path

from employers.apis import (
    EmployerAdminInviteApi,
    EmployerAdminPasswordSetApi,
    EmployerContractListApi,
    EmployerDetailApi,
    EmployerListApi,
)
from employers.roster_apis import (
    RosterEntryDetailApi,
    RosterEntryHistoryApi,
    RosterEntryListApi,
    RosterEntryTerminateApi,
    RosterHistoryApi,
)

urlpatterns = [
    path("", EmployerListApi.as_view(), name="employer-list"),
    path("<int:pk>/", EmployerDetailApi.as_view(), name="employer-detail"),
    # employers, contracts and benefits admins (employers/apis.py)
    path(
        "<int:employer_id>/contracts/",
        EmployerContractListApi.as_view(),
        name="employer-contract-list",
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
]

# Employer invoicing (employers/invoice_apis.py)
from employers.invoice_apis import EmployerInvoiceDetailApi, EmployerInvoiceListApi  # noqa: E402

urlpatterns += [
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
