from django.urls import path

from ledger.statement_apis import (
    StatementApproveApi,
    StatementCsvApi,
    StatementDetailApi,
    StatementListApi,
    StatementPayoutApi,
    StatementPdfApi,
)

urlpatterns = [
    path("", StatementListApi.as_view(), name="statement-list"),
    path("<int:pk>/", StatementDetailApi.as_view(), name="statement-detail"),
    path("<int:pk>/approve/", StatementApproveApi.as_view(), name="statement-approve"),
    path("<int:pk>/payout/", StatementPayoutApi.as_view(), name="statement-payout"),
    path("<int:pk>/export.csv", StatementCsvApi.as_view(), name="statement-export-csv"),
    path("<int:pk>/export.pdf", StatementPdfApi.as_view(), name="statement-export-pdf"),
]
