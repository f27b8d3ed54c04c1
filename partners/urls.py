from django.urls import path

from partners.apis import PartnerDetailApi, PartnerListApi

urlpatterns = [
    path("", PartnerListApi.as_view(), name="partner-list"),
    path("<int:pk>/", PartnerDetailApi.as_view(), name="partner-detail"),
]
