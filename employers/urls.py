from django.urls import path

from employers.apis import EmployerDetailApi, EmployerListApi

urlpatterns = [
    path("", EmployerListApi.as_view(), name="employer-list"),
    path("<int:pk>/", EmployerDetailApi.as_view(), name="employer-detail"),
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
