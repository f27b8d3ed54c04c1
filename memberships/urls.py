from django.urls import path

from memberships.apis import (
    MyInvoicesApi,
    MyMarketApi,
    MyMembershipApi,
    MyMembershipCancelApi,
    MyMembershipPlanChangeApi,
    MyMembershipResumeApi,
    MyPaymentMethodApi,
    SignupApi,
)

urlpatterns = [
    path("signup/", SignupApi.as_view(), name="signup"),
    path("me/membership/", MyMembershipApi.as_view(), name="my-membership"),
    path("me/membership/cancel/", MyMembershipCancelApi.as_view(), name="my-membership-cancel"),
    path("me/membership/resume/", MyMembershipResumeApi.as_view(), name="my-membership-resume"),
    path(
        "me/membership/change-plan/",
        MyMembershipPlanChangeApi.as_view(),
        name="my-membership-change-plan",
    ),
    path("me/invoices/", MyInvoicesApi.as_view(), name="my-invoices"),
    path("me/market/", MyMarketApi.as_view(), name="my-market"),
    path("me/payment-method/", MyPaymentMethodApi.as_view(), name="my-payment-method"),
]
