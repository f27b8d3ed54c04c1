from django.urls import path

from employers.apis import EmployerDetailApi, EmployerListApi
from employers.import_apis import (
    RosterImportConfirmApi,
    RosterImportDetailApi,
    RosterImportErrorsApi,
    RosterImportListApi,
    RosterImportRowsApi,
    RosterImportTerminationsApi,
)

urlpatterns = [
    path("", EmployerListApi.as_view(), name="employer-list"),
    path("<int:pk>/", EmployerDetailApi.as_view(), name="employer-detail"),
]

# Roster CSV imports (employers/import_apis.py).
urlpatterns += [
    path(
        "<int:employer_id>/roster/imports/",
        RosterImportListApi.as_view(),
        name="roster-import-list",
    ),
    path(
        "<int:employer_id>/roster/imports/<int:pk>/",
        RosterImportDetailApi.as_view(),
        name="roster-import-detail",
    ),
    path(
        "<int:employer_id>/roster/imports/<int:pk>/errors/",
        RosterImportErrorsApi.as_view(),
        name="roster-import-errors",
    ),
    path(
        "<int:employer_id>/roster/imports/<int:pk>/rows/",
        RosterImportRowsApi.as_view(),
        name="roster-import-rows",
    ),
    path(
        "<int:employer_id>/roster/imports/<int:pk>/terminations/",
        RosterImportTerminationsApi.as_view(),
        name="roster-import-terminations",
    ),
    path(
        "<int:employer_id>/roster/imports/<int:pk>/confirm/",
        RosterImportConfirmApi.as_view(),
        name="roster-import-confirm",
    ),
]
