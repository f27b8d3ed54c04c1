"""Routes of enrollment (employers/enrollment_apis.py), under /api/v1/."""

from django.urls import path

from employers.enrollment_apis import EmployerEnrollmentListApi, EnrollApi, MyMembershipConvertApi

urlpatterns = [
    path("enroll/", EnrollApi.as_view(), name="enroll"),
    path("me/membership/convert/", MyMembershipConvertApi.as_view(), name="my-membership-convert"),
    path(
        "employers/<int:employer_id>/enrollments/",
        EmployerEnrollmentListApi.as_view(),
        name="employer-enrollments",
    ),
]
