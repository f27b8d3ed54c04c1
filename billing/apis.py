from __future__ import annotations

from typing import ClassVar

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import AllowedRoles, Audience
from billing.stripe_events import stripe_event_receive


class StripeWebhookApi(APIView):
    """Stripe's webhook deliveries. Authenticated by the `Stripe-Signature` header, not by a
    user: the body is verified, stored raw and queued; the answer comes before any processing.
    A bad signature, a stale timestamp or a body that is not an event is a 400."""

    allowed_roles: ClassVar[AllowedRoles] = Audience.PUBLIC
    authentication_classes = ()

    @extend_schema(
        request={"application/json": {"type": "object", "description": "A Stripe event."}},
        responses={
            200: inline_serializer(
                "StripeWebhookReceived",
                {"received": serializers.BooleanField(), "duplicate": serializers.BooleanField()},
            ),
        },
        auth=[],
        tags=["webhooks"],
    )
    def post(self, request: Request) -> Response:
        """Receive one Stripe event."""
        _, created = stripe_event_receive(
            raw_body=request.body, signature_header=request.headers.get("Stripe-Signature")
        )
        return Response({"received": True, "duplicate": not created})
