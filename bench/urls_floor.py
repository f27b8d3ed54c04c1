"""Bench-only WSGI application and urlconf: the project's urls plus `bench/floor/`, a bare DRF
APIView returning a constant (no authentication, no permission check, no database), the floor
of bench/api_load.py. Served by `gunicorn bench.urls_floor:application`: the settings read
ROOT_URLCONF from no environment variable, so this module sets it before the first request."""

from __future__ import annotations

import os
from typing import Any

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()  # sets Django up before the urls below are imported

from django.conf import settings  # noqa: E402
from django.urls import include, path  # noqa: E402
from rest_framework.permissions import AllowAny  # noqa: E402
from rest_framework.request import Request  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

settings.ROOT_URLCONF = __name__


class FloorApi(APIView):
    """A constant: what DRF and the middleware cost without the app's work."""

    authentication_classes: Any = ()
    permission_classes: Any = (AllowAny,)

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


urlpatterns = [
    path("bench/floor/", FloorApi.as_view()),
    path("", include("config.urls")),
]
