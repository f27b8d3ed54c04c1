from django.urls import path

from memberships.apis import SignupApi

urlpatterns = [
    path("signup/", SignupApi.as_view(), name="signup"),
]
