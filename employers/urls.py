from django.urls import path

from employers.apis import (
    EmployerAdminInviteApi,
    EmployerAdminPasswordSetApi,
    EmployerContractListApi,
    EmployerDetailApi,
    EmployerListApi,
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
]
