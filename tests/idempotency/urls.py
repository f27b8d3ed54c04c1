"""A URL configuration for the idempotency tests: small opted-in views with real side effects
(partners and users are created and deleted), counting how often their handlers ran."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any, ClassVar

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import AllowedRoles, Audience
from accounts.services import user_create
from config.errors import ConflictError, NotFoundError
from idempotency.api import IdempotentMutationsMixin
from partners.models import Partner

handler400 = "config.api_errors.bad_request"
handler403 = "config.api_errors.permission_denied"
handler404 = "config.api_errors.not_found"
handler500 = "config.api_errors.server_error"

PARTNERS_URL = "/test/idempotency/partners"
PRIVATE_PARTNERS_URL = "/test/idempotency/private-partners"
SLOW_PARTNERS_URL = "/test/idempotency/slow-partners"
USERS_URL = "/test/idempotency/users"


def partner_url(partner_id: int) -> str:
    return f"{PARTNERS_URL}/{partner_id}"


def flaky_url(mode: str) -> str:
    return f"/test/idempotency/flaky/{mode}"


# How often each handler ran (the views run in the live server's threads too).
handler_calls: Counter[str] = Counter()
_calls_lock = threading.Lock()
# The slow view waits for this before it does its work.
slow_view_may_finish = threading.Event()


def count_call(name: str) -> int:
    with _calls_lock:
        handler_calls[name] += 1
        return handler_calls[name]


class PartnerInputSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200)
    note = serializers.CharField(required=False)


class PartnerOutputSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    created_at = serializers.DateTimeField()


class UserInputSerializer(serializers.Serializer[Any]):
    email = serializers.EmailField()
    password = serializers.CharField()


class UserOutputSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    email = serializers.EmailField()


class PartnerCreateApi(IdempotentMutationsMixin, APIView):
    allowed_roles: ClassVar[AllowedRoles] = Audience.PUBLIC
    error_responses: ClassVar[dict[str, tuple[str, ...]]] = {"POST": ("409",)}
    call_name = "partner_create"

    @extend_schema(request=PartnerInputSerializer, responses={201: PartnerOutputSerializer})
    def post(self, request: Request) -> Response:
        """Create a partner; a taken name is a 409 conflict."""
        count_call(self.call_name)
        self.before_work()
        payload = PartnerInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        name = payload.validated_data["name"]
        if Partner.objects.filter(name=name).exists():
            raise ConflictError("A partner with this name exists.", details={"field": "name"})
        partner = Partner.objects.create(name=name)
        response = Response(PartnerOutputSerializer(partner).data, status=status.HTTP_201_CREATED)
        response["Location"] = partner_url(partner.pk)
        response["X-Internal-Trace"] = "not-for-replay"
        response.set_cookie("session-ish", "not-for-replay")
        return response

    def before_work(self) -> None:
        pass


class PrivatePartnerCreateApi(PartnerCreateApi):
    allowed_roles: ClassVar[AllowedRoles] = Audience.AUTHENTICATED
    call_name = "private_partner_create"


class SlowPartnerCreateApi(PartnerCreateApi):
    call_name = "slow_partner_create"

    def before_work(self) -> None:
        slow_view_may_finish.wait(timeout=30)


class PartnerDetailApi(IdempotentMutationsMixin, APIView):
    allowed_roles: ClassVar[AllowedRoles] = Audience.PUBLIC

    def get_partner(self, partner_id: int) -> Partner:
        partner = Partner.objects.filter(pk=partner_id).first()
        if partner is None:
            raise NotFoundError("No such partner.")
        return partner

    @extend_schema(responses={200: PartnerOutputSerializer})
    def get(self, request: Request, partner_id: int) -> Response:
        """Read a partner."""
        count_call("partner_get")
        return Response(PartnerOutputSerializer(self.get_partner(partner_id)).data)

    @extend_schema(request=PartnerInputSerializer, responses={200: PartnerOutputSerializer})
    def put(self, request: Request, partner_id: int) -> Response:
        """Rename a partner."""
        count_call("partner_put")
        partner = self.get_partner(partner_id)
        payload = PartnerInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        partner.name = payload.validated_data["name"]
        partner.save(update_fields=["name"])
        return Response(PartnerOutputSerializer(partner).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, partner_id: int) -> Response:
        """Delete a partner."""
        count_call("partner_delete")
        self.get_partner(partner_id).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class FlakyPartnerCreateApi(IdempotentMutationsMixin, APIView):
    """Fails on its first call (an exception, or a 503 it answers itself), then works."""

    allowed_roles: ClassVar[AllowedRoles] = Audience.PUBLIC

    @extend_schema(request=PartnerInputSerializer, responses={201: PartnerOutputSerializer})
    def post(self, request: Request, mode: str) -> Response:
        """Create a partner, failing the first time."""
        calls = count_call(f"flaky_{mode}")
        if calls == 1 and mode == "raise":
            raise RuntimeError("the first call fails")
        if calls == 1:
            return Response({"detail": "try again"}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        payload = PartnerInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        partner = Partner.objects.create(name=f"{payload.validated_data['name']} #{calls}")
        return Response(PartnerOutputSerializer(partner).data, status=status.HTTP_201_CREATED)


class UserCreateApi(IdempotentMutationsMixin, APIView):
    """Sign-up: the request holds a password."""

    allowed_roles: ClassVar[AllowedRoles] = Audience.PUBLIC

    @extend_schema(request=UserInputSerializer, responses={201: UserOutputSerializer}, auth=[])
    def post(self, request: Request) -> Response:
        """Create a user."""
        count_call("user_create")
        payload = UserInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        user = user_create(
            email=payload.validated_data["email"], password=payload.validated_data["password"]
        )
        return Response(UserOutputSerializer(user).data, status=status.HTTP_201_CREATED)


urlpatterns = [
    path(PARTNERS_URL.lstrip("/"), PartnerCreateApi.as_view()),
    path(f"{PARTNERS_URL.lstrip('/')}/<int:partner_id>", PartnerDetailApi.as_view()),
    path(PRIVATE_PARTNERS_URL.lstrip("/"), PrivatePartnerCreateApi.as_view()),
    path(SLOW_PARTNERS_URL.lstrip("/"), SlowPartnerCreateApi.as_view()),
    path("test/idempotency/flaky/<str:mode>", FlakyPartnerCreateApi.as_view()),
    path(USERS_URL.lstrip("/"), UserCreateApi.as_view()),
]
