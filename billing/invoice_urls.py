from django.urls import path

from billing.invoice_apis import (
    InvoiceCreditNoteCreateApi,
    InvoiceDetailApi,
    InvoiceListApi,
    InvoiceRefundCreateApi,
)

urlpatterns = [
    path("", InvoiceListApi.as_view(), name="invoice-list"),
    path("<int:pk>/", InvoiceDetailApi.as_view(), name="invoice-detail"),
    path("<int:pk>/refunds/", InvoiceRefundCreateApi.as_view(), name="invoice-refund-create"),
    path(
        "<int:pk>/credit-notes/",
        InvoiceCreditNoteCreateApi.as_view(),
        name="invoice-credit-note-create",
    ),
]
