from __future__ import annotations

from typing import ClassVar, cast

from django.db.models import prefetch_related_objects
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts.api.serializers import (
    TokenInputSerializer,
    TokenOutputSerializer,
    UserOutputSerializer,
)
from accounts.models import AccessToken, User
from accounts.permissions import AllowedRoles, Audience
from accounts.services import access_token_issue, access_token_revoke


class TokenApi(APIView):
    allowed_roles: ClassVar[AllowedRoles] = Audience.PUBLIC
    error_responses: ClassVar[dict[str, tuple[str, ...]]] = {"POST": ("401",)}
    throttle_classes = (ScopedRateThrottle,)
    throttle_scope = "auth"

    @extend_schema(request=TokenInputSerializer, responses={201: TokenOutputSerializer}, auth=[])
    def post(self, request: Request) -> Response:
        """Log in with email and password; the answer holds a bearer token for the API."""
        payload = TokenInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        issued = access_token_issue(
            email=payload.validated_data["email"], password=payload.validated_data["password"]
        )
        body = TokenOutputSerializer(
            {
                "token": issued.token,
                "token_type": "Bearer",
                "expires_at": issued.expires_at,
                "user": issued.user,
            }
        ).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        """Revoke the bearer token this request was made with (log out)."""
        if not request.user.is_authenticated:
            raise NotAuthenticated()
        if isinstance(request.auth, AccessToken):
            access_token_revoke(access_token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    allowed_roles: ClassVar[AllowedRoles] = Audience.AUTHENTICATED

    @extend_schema(responses={200: UserOutputSerializer})
    def get(self, request: Request) -> Response:
        """The caller's own profile and role grants."""
        user = cast(User, request.user)
        prefetch_related_objects([user], "role_grants")
        return Response(UserOutputSerializer(user).data)
