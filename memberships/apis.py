from __future__ import annotations

from typing import Any, ClassVar, cast

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts.models import Role, User
from accounts.permissions import AllowedRoles, Audience
from accounts.services import access_token_issue
from billing.models import (
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    StripeCommand,
    StripeCommandStatus,
)
from billing.stripe_outbox import stripe_outbox_push_now
from config import clock
from config.api_errors import error_body
from config.json_input import JSONInputSerializer
from idempotency.api import IdempotentMutationsMixin
from memberships.models import Membership
from memberships.selectors import invoices_for_user, membership_current_for_user
from memberships.services import (
    SignupInput,
    member_market_change,
    member_payment_method_replace,
    member_signup,
    membership_cancel_at_period_end,
    membership_cancel_now,
    membership_cancellation_undo,
    membership_plan_change,
)


class SignupInputSerializer(JSONInputSerializer):
    email = serializers.EmailField()
    password = serializers.CharField(min_length=10, max_length=256, trim_whitespace=False)
    full_name = serializers.CharField(max_length=200)
    date_of_birth = serializers.DateField()
    market = serializers.SlugField(help_text="Home market, e.g. northeast-ohio.")
    price_code = serializers.CharField(max_length=64, help_text="e.g. prime_monthly")
    prime_token = serializers.CharField(
        max_length=256, required=False, allow_blank=True, help_text="Needed for Prime prices."
    )
    payment_method_id = serializers.RegexField(
        r"^pm_[A-Za-z0-9_]+$", max_length=255, help_text="A Stripe PaymentMethod id (pm_…)."
    )

    def validate_date_of_birth(self, value: Any) -> Any:
        if value > clock.today():
            raise serializers.ValidationError("The date of birth is in the future.")
        return value


class MembershipOutputSerializer(serializers.ModelSerializer[Membership]):
    price_code = serializers.CharField(source="price.code")
    amount_cents = serializers.IntegerField(source="price.amount_cents")
    currency = serializers.CharField(source="price.currency")
    interval = serializers.CharField(source="price.interval")

    class Meta:
        model = Membership
        fields: tuple[str, ...] = (
            "id",
            "status",
            "price_code",
            "amount_cents",
            "currency",
            "interval",
            "current_period_start",
            "current_period_end",
        )


class SignupOutputSerializer(serializers.Serializer[Any]):
    member = serializers.DictField()
    membership = MembershipOutputSerializer()
    token = serializers.CharField()
    token_type = serializers.CharField()
    expires_at = serializers.DateTimeField()


class SignupApi(IdempotentMutationsMixin, APIView):
    """Become a member: creates the account, the membership and its first invoice, and charges
    the card. 201 when the membership is active; 402 (code `card_declined`, with Stripe's
    decline code) when the card was declined: nothing is active, and signing up again with the
    same email, password and another card completes the same sign-up; 202 when Stripe could not
    be reached yet (the charge is queued and the membership stays pending until it goes through).
    Send an `Idempotency-Key` to make a retry of the very same request safe."""

    allowed_roles: ClassVar[AllowedRoles] = Audience.PUBLIC
    authentication_classes = ()
    throttle_classes = (ScopedRateThrottle,)
    throttle_scope = "signup"
    error_responses: ClassVar[dict[str, tuple[str, ...]]] = {"POST": ("402", "409")}

    @extend_schema(
        request=SignupInputSerializer,
        responses={
            201: SignupOutputSerializer,
            202: SignupOutputSerializer,
        },
        auth=[],
        tags=["signup"],
    )
    def post(self, request: Request) -> Response:
        payload = SignupInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        result = member_signup(
            data=SignupInput(
                email=data["email"],
                password=data["password"],
                full_name=data["full_name"],
                date_of_birth=data["date_of_birth"],
                market_slug=data["market"],
                price_code=data["price_code"],
                payment_method_id=data["payment_method_id"],
                prime_token=data.get("prime_token", ""),
            )
        )
        stripe_outbox_push_now(command_ids=result.command_ids)  # outside any transaction
        result.invoice.refresh_from_db()
        membership = Membership.objects.select_related("price").get(pk=result.membership.pk)
        if result.invoice.status != InvoiceStatus.PAID:
            declined = (
                Payment.objects.filter(invoice=result.invoice, status=PaymentStatus.FAILED)
                .order_by("-id")
                .first()
            )
            if declined is not None and not _pending_retry(result.command_ids):
                body = error_body(
                    code="card_declined",
                    message=declined.failure_message or "The card was declined.",
                    details={
                        "decline_code": declined.decline_code,
                        "membership_id": membership.pk,
                        "membership_status": membership.status,
                    },
                )
                return Response(body, status=status.HTTP_402_PAYMENT_REQUIRED)
        issued = access_token_issue(email=result.user.email, password=data["password"])
        body = SignupOutputSerializer(
            {
                "member": {
                    "id": result.user.pk,
                    "email": result.user.email,
                    "full_name": result.user.full_name,
                },
                "membership": membership,
                "token": issued.token,
                "token_type": "Bearer",
                "expires_at": issued.expires_at,
            }
        ).data
        paid = result.invoice.status == InvoiceStatus.PAID
        return Response(body, status=status.HTTP_201_CREATED if paid else status.HTTP_202_ACCEPTED)


def _pending_retry(command_ids: list[int]) -> bool:
    """Is a charge of this sign-up still queued (Stripe unreachable), rather than declined?"""
    return StripeCommand.objects.filter(
        id__in=command_ids,
        status__in=[StripeCommandStatus.PENDING, StripeCommandStatus.IN_PROGRESS],
    ).exists()


# --- self-service: /api/v1/me/… (the caller's own data only, found through the caller) --------


class MyMembershipOutputSerializer(MembershipOutputSerializer):
    class Meta(MembershipOutputSerializer.Meta):
        fields = (*MembershipOutputSerializer.Meta.fields, "cancel_at_period_end")


MEMBERS: AllowedRoles = frozenset({Role.MEMBER})


def _caller(request: Request) -> User:
    return cast(User, request.user)  # RolePermission let only authenticated members in


def _caller_id(request: Request) -> int:
    return int(_caller(request).pk)


class MyMembershipApi(APIView):
    allowed_roles: ClassVar[AllowedRoles] = MEMBERS
    error_responses: ClassVar[dict[str, tuple[str, ...]]] = {"GET": ("404",)}

    @extend_schema(responses={200: MyMembershipOutputSerializer}, tags=["me"])
    def get(self, request: Request) -> Response:
        """The caller's membership (the live one, else the latest)."""
        membership = membership_current_for_user(user_id=_caller_id(request))
        return Response(MyMembershipOutputSerializer(membership).data)


class CancelInputSerializer(JSONInputSerializer):
    when = serializers.ChoiceField(
        choices=["period_end", "now"],
        default="period_end",
        help_text="period_end (default): nothing more is charged; now: ends today and refunds "
        "the unused days of the current period.",
    )


class CancelOutputSerializer(serializers.Serializer[Any]):
    membership = MyMembershipOutputSerializer()
    refund_cents = serializers.IntegerField()


class MyMembershipCancelApi(APIView):
    allowed_roles: ClassVar[AllowedRoles] = MEMBERS
    error_responses: ClassVar[dict[str, tuple[str, ...]]] = {"POST": ("404", "409")}

    @extend_schema(
        request=CancelInputSerializer, responses={200: CancelOutputSerializer}, tags=["me"]
    )
    def post(self, request: Request) -> Response:
        """Cancel at the end of the paid period (default), or now with a prorated refund."""
        payload = CancelInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        current = membership_current_for_user(user_id=_caller_id(request))
        refund_cents = 0
        if payload.validated_data["when"] == "now":
            canceled = membership_cancel_now(membership=current, actor=_caller(request))
            membership, refund_cents = canceled.membership, canceled.refund_cents
        else:
            membership = membership_cancel_at_period_end(membership=current, actor=_caller(request))
        body = CancelOutputSerializer({"membership": membership, "refund_cents": refund_cents})
        return Response(body.data)


class MyMembershipResumeApi(APIView):
    allowed_roles: ClassVar[AllowedRoles] = MEMBERS
    error_responses: ClassVar[dict[str, tuple[str, ...]]] = {"POST": ("404", "409")}

    @extend_schema(request=None, responses={200: MyMembershipOutputSerializer}, tags=["me"])
    def post(self, request: Request) -> Response:
        """Undo a pending cancellation at period end."""
        membership = membership_cancellation_undo(
            membership=membership_current_for_user(user_id=_caller_id(request)),
            actor=_caller(request),
        )
        return Response(MyMembershipOutputSerializer(membership).data)


class MyInvoiceOutputSerializer(serializers.ModelSerializer[Invoice]):
    class Meta:
        model = Invoice
        fields = (
            "id",
            "number",
            "status",
            "total_cents",
            "amount_paid_cents",
            "currency",
            "created_at",
            "hosted_invoice_url",
        )


class MyInvoicesApi(ListAPIView):  # type: ignore[type-arg]
    """The caller's invoices, newest first, with Stripe's hosted page where there is one."""

    allowed_roles: ClassVar[AllowedRoles] = MEMBERS
    serializer_class = MyInvoiceOutputSerializer

    def get_queryset(self) -> QuerySet[Invoice]:
        return invoices_for_user(user_id=_caller_id(self.request))

    @extend_schema(tags=["me"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class PaymentMethodInputSerializer(JSONInputSerializer):
    payment_method_id = serializers.RegexField(r"^pm_[A-Za-z0-9_]+$", max_length=255)


class MyPaymentMethodApi(APIView):
    allowed_roles: ClassVar[AllowedRoles] = MEMBERS
    error_responses: ClassVar[dict[str, tuple[str, ...]]] = {"POST": ("404",)}

    @extend_schema(
        request=PaymentMethodInputSerializer,
        responses={
            202: inline_serializer("PaymentMethodQueued", {"queued": serializers.BooleanField()})
        },
        tags=["me"],
    )
    def post(self, request: Request) -> Response:
        """Replace the card: a Stripe PaymentMethod id, attached and made the default by the
        Stripe rail shortly after (202). A past-due renewal is charged again with it."""
        payload = PaymentMethodInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        member_payment_method_replace(
            user=_caller(request), payment_method_id=payload.validated_data["payment_method_id"]
        )
        return Response({"queued": True}, status=status.HTTP_202_ACCEPTED)


class PlanChangeInputSerializer(JSONInputSerializer):
    price_code = serializers.CharField(max_length=64)


class PlanChangeOutputSerializer(serializers.Serializer[Any]):
    membership = MyMembershipOutputSerializer()
    immediate = serializers.BooleanField(help_text="True when the new plan started today.")
    invoice_id = serializers.IntegerField(allow_null=True)
    credit_cents = serializers.IntegerField(help_text="Credit for the unused days of the old plan.")
    next_price_code = serializers.CharField(allow_null=True)


class MyMembershipPlanChangeApi(APIView):
    allowed_roles: ClassVar[AllowedRoles] = MEMBERS
    error_responses: ClassVar[dict[str, tuple[str, ...]]] = {"POST": ("404", "409")}

    @extend_schema(
        request=PlanChangeInputSerializer, responses={200: PlanChangeOutputSerializer}, tags=["me"]
    )
    def post(self, request: Request) -> Response:
        """Change plan: monthly → annual now (with credit for the unused days, charged on one
        invoice); other changes when the current period ends."""
        payload = PlanChangeInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        change = membership_plan_change(
            membership=membership_current_for_user(user_id=_caller_id(request)),
            price_code=payload.validated_data["price_code"],
            actor=_caller(request),
        )
        membership = Membership.objects.select_related("price", "next_price").get(
            pk=change.membership.pk
        )
        body = PlanChangeOutputSerializer(
            {
                "membership": membership,
                "immediate": change.immediate,
                "invoice_id": change.invoice.pk if change.invoice else None,
                "credit_cents": change.credit_cents,
                "next_price_code": membership.next_price.code if membership.next_price else None,
            }
        ).data
        return Response(body)


class MarketChangeInputSerializer(JSONInputSerializer):
    market = serializers.SlugField(help_text="e.g. connecticut")
    effective_from = serializers.DateField(required=False, help_text="Default: today.")


class MarketChangeOutputSerializer(serializers.Serializer[Any]):
    market = serializers.CharField()
    effective_from = serializers.DateField()


class MyMarketApi(APIView):
    allowed_roles: ClassVar[AllowedRoles] = MEMBERS
    error_responses: ClassVar[dict[str, tuple[str, ...]]] = {"POST": ("404",)}

    @extend_schema(
        request=MarketChangeInputSerializer,
        responses={200: MarketChangeOutputSerializer},
        tags=["me"],
    )
    def post(self, request: Request) -> Response:
        """Change the home market from a date on (today by default, never in the past)."""
        payload = MarketChangeInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        change = member_market_change(
            user=_caller(request),
            market_slug=payload.validated_data["market"],
            effective_from=payload.validated_data.get("effective_from") or clock.today(),
            actor=_caller(request),
        )
        return Response({"market": change.market.slug, "effective_from": change.effective_from})
