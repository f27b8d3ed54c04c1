"""The employer-admin pages, under /employer/<employer_id>/ (included by web/urls.py)."""

from django.urls import path

from web import employer_views

urlpatterns = [
    path(
        "<int:employer_id>/roster/",
        employer_views.RosterPage.as_view(),
        name="employer-roster",
    ),
    path(
        "<int:employer_id>/roster/<int:entry_id>/terminate/",
        employer_views.RosterTerminatePage.as_view(),
        name="employer-roster-terminate",
    ),
    path(
        "<int:employer_id>/roster/import/",
        employer_views.RosterImportUploadPage.as_view(),
        name="employer-roster-import-upload",
    ),
    path(
        "<int:employer_id>/roster/imports/<int:import_id>/",
        employer_views.RosterImportPage.as_view(),
        name="employer-roster-import",
    ),
    path(
        "<int:employer_id>/roster/imports/<int:import_id>/confirm/",
        employer_views.RosterImportConfirmAction.as_view(),
        name="employer-roster-import-confirm",
    ),
    path(
        "<int:employer_id>/invoices/",
        employer_views.InvoiceListPage.as_view(),
        name="employer-invoices",
    ),
    path(
        "<int:employer_id>/invoices/<int:invoice_id>/",
        employer_views.InvoiceDetailPage.as_view(),
        name="employer-invoice",
    ),
]
