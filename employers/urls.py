from django.urls import path

from employers.apis import EmployerDetailApi, EmployerListApi

urlpatterns = [
    path("", EmployerListApi.as_view(), name="employer-list"),
    path("<int:pk>/", EmployerDetailApi.as_view(), name="employer-detail"),
]
