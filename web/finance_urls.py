"""The finance pages' routes, included under `finance/` by `web/urls.py`."""

from django.urls import path

from web import finance_views as views

urlpatterns = [
    path("statements/", views.StatementListPage.as_view(), name="finance-statements"),
    path("statements/<int:pk>/", views.StatementPage.as_view(), name="finance-statement"),
    path(
        "statements/<int:pk>/approve/",
        views.StatementApprovePage.as_view(),
        name="finance-statement-approve",
    ),
    path(
        "statements/<int:pk>/payout/",
        views.StatementPayoutPage.as_view(),
        name="finance-statement-payout",
    ),
    path("ledger/", views.LedgerPage.as_view(), name="finance-ledger"),
    path("ledger/entries/", views.JournalEntryListPage.as_view(), name="finance-entries"),
    path("ledger/entries/<int:pk>/", views.JournalEntryPage.as_view(), name="finance-entry"),
    path("invoices/", views.InvoiceListPage.as_view(), name="finance-invoices"),
    path("invoices/<int:pk>/", views.InvoicePage.as_view(), name="finance-invoice"),
    path(
        "invoices/<int:pk>/refund/",
        views.InvoiceRefundPage.as_view(),
        name="finance-invoice-refund",
    ),
]
