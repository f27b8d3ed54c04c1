from django.urls import path

from billing.apis import StripeWebhookApi

webhook_urlpatterns = [
    path("stripe/", StripeWebhookApi.as_view(), name="stripe-webhook"),
]
