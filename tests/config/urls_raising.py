"""A URL configuration for error-format tests: the real routes plus views that fail."""

from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import Audience
from config.errors import ConflictError
from config.urls import handler400, handler403, handler404, handler500, urlpatterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


def exploding_django_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom")


class ExplodingApiView(APIView):
    allowed_roles = Audience.PUBLIC

    def get(self, request: Request) -> Response:
        raise RuntimeError("boom")


class ConflictingApiView(APIView):
    allowed_roles = Audience.PUBLIC

    def post(self, request: Request) -> Response:
        raise ConflictError("Already there.", details={"field": "email"})


urlpatterns = [
    *urlpatterns,
    path("api/test/explode-django", exploding_django_view),
    path("api/test/explode-api", ExplodingApiView.as_view()),
    path("api/test/conflict", ConflictingApiView.as_view()),
]
