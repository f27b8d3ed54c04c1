from django.urls import path

from ledger.apis import AccountBalanceListApi, JournalEntryDetailApi, JournalEntryListApi

urlpatterns = [
    path("accounts/", AccountBalanceListApi.as_view(), name="ledger-account-list"),
    path("entries/", JournalEntryListApi.as_view(), name="ledger-entry-list"),
    path("entries/<int:pk>/", JournalEntryDetailApi.as_view(), name="ledger-entry-detail"),
]
