"""The webhook intake benchmark's floor: a bare Django view answering 200 at the webhook's URL
(same settings and middleware as the app, no DRF, no signature check, no database)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b'{"received": true}', content_type="application/json")


urlpatterns = [path("webhooks/stripe/", ok)]
