"""Enrollment APIs: an employee enrolls with the employer code (public), a member converts an
ending or ended sponsored membership (/me/…), an employer admin lists the enrollments."""

from __future__ import annotations

from typing import Any, ClassVar, cast

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts.api.scoped_views import ScopedAPIView
from accounts.models import Role, User
from accounts.permissions import AllowedRoles, Audience
from accounts.services import access_token_issue
from billing.models import InvoiceStatus, Payment, PaymentStatus, StripeCommand
from billing.stripe_outbox import stripe_outbox_push_now
from config import clock
from config.api_errors import error_body
from config.errors import NotFoundError
from config.json_input import JSONInputSerializer
from config.query_params import query_params_read
from employers.apis import EMPLOYER_READERS
from employers.enrollment import EnrollInput, employee_enroll, membership_convert
from employers.models import Employer, Enrollment, EnrollmentQuerySet
from idempotency.api import IdempotentMutationsMixin
from memberships.apis import MembershipOutputSerializer
from memberships.models import Membership

PAYMENT_METHOD_PATTERN = r"^pm_[A-Za-z0-9_]+$"


class EnrollInputSerializer(JSONInputSerializer):
    employer_code = serializers.CharField(max_length=16, help_text="e.g. K7Q2-MZ4P")
    work_email = serializers.EmailField(
        required=False, help_text="Your work email as on your employer's roster."
    )
    external_id = serializers.CharField(
        max_length=64,
        required=False,
        help_text="Or your employee id, which needs date_of_birth to match the roster too.",
    )
    password = serializers.CharField(min_length=10, max_length=256, trim_whitespace=False)
    full_name = serializers.CharField(max_length=200)
    date_of_birth = serializers.DateField()
    market = serializers.SlugField(help_text="Home market, e.g. northeast-ohio.")
    payment_method_id = serializers.RegexField(
        PAYMENT_METHOD_PATTERN,
        max_length=255,
        required=False,
        help_text="A Stripe PaymentMethod id (pm_…); required when the contract has a member "
        "share (charged monthly, never at enrollment).",
    )

    def validate_date_of_birth(self, value: Any) -> Any:
        if value > clock.today():
            raise serializers.ValidationError("The date of birth is in the future.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("work_email")) == bool(attrs.get("external_id")):
            raise serializers.ValidationError(
                {"work_email": ["Send either work_email or external_id (with date_of_birth)."]}
            )
        return attrs


class EnrollmentOutputSerializer(serializers.ModelSerializer[Enrollment]):
    class Meta:
        model = Enrollment
        fields = ("id", "employer_id", "starts_on", "ends_on")


class EnrollOutputSerializer(serializers.Serializer[Any]):
    member = serializers.DictField()
    membership = MembershipOutputSerializer()
    enrollment = EnrollmentOutputSerializer()
    member_share_cents = serializers.IntegerField(
        help_text="Charged to the member's card each month (0 when the employer pays it all)."
    )
    token = serializers.CharField()
    token_type = serializers.CharField()
    expires_at = serializers.DateTimeField()


class EnrollApi(IdempotentMutationsMixin, APIView):
    """Enroll in the membership your employer sponsors, with its code and your roster identity
    (work email, or employee id with date of birth). 201 with an active membership and a
    bearer token. A mismatch of any kind is one 404 (`no_eligible_employee`) that does not say
    whether the employee exists; a wrong code is `employer_code_invalid`. 409 when already
    enrolled or when you have an individual membership (`individual_membership_exists`, with
    how to end it first). Nothing is charged now."""

    allowed_roles: ClassVar[AllowedRoles] = Audience.PUBLIC
    authentication_classes = ()
    throttle_classes = (ScopedRateThrottle,)
    throttle_scope = "signup"
    error_responses: ClassVar[dict[str, tuple[str, ...]]] = {"POST": ("404", "409")}

    @extend_schema(
        request=EnrollInputSerializer,
        responses={201: EnrollOutputSerializer},
        auth=[],
        tags=["enroll"],
    )
    def post(self, request: Request) -> Response:
        payload = EnrollInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        result = employee_enroll(
            data=EnrollInput(
                employer_code=data["employer_code"],
                work_email=data.get("work_email", ""),
                external_id=data.get("external_id", ""),
                password=data["password"],
                full_name=data["full_name"],
                date_of_birth=data["date_of_birth"],
                market_slug=data["market"],
                payment_method_id=data.get("payment_method_id", ""),
            )
        )
        issued = access_token_issue(email=result.user.email, password=data["password"])
        membership = Membership.objects.select_related("price").get(pk=result.membership.pk)
        body = EnrollOutputSerializer(
            {
                "member": {
                    "id": result.user.pk,
                    "email": result.user.email,
                    "full_name": result.user.full_name,
                },
                "membership": membership,
                "enrollment": result.enrollment,
                "member_share_cents": result.member_share_cents,
                "token": issued.token,
                "token_type": "Bearer",
                "expires_at": issued.expires_at,
            }
        ).data
        return Response(body, status=status.HTTP_201_CREATED)


class ConvertInputSerializer(JSONInputSerializer):
    price_code = serializers.CharField(max_length=64, help_text="e.g. standard_annual")
    payment_method_id = serializers.RegexField(
        PAYMENT_METHOD_PATTERN, max_length=255, help_text="A Stripe PaymentMethod id (pm_…)."
    )
    prime_token = serializers.CharField(
        max_length=256, required=False, allow_blank=True, help_text="Needed for Prime prices."
    )


class ConvertOutputSerializer(serializers.Serializer[Any]):
    membership = MembershipOutputSerializer(
        help_text="The new individual membership; when scheduled, the ending sponsored one."
    )
    scheduled = serializers.BooleanField(
        help_text="True: the individual membership starts when the sponsorship ends."
    )
    starts_on = serializers.DateField()
    invoice_id = serializers.IntegerField(allow_null=True)


class MyMembershipConvertApi(IdempotentMutationsMixin, APIView):
    """Keep your membership on your own when your employer's sponsorship ends. While it is
    ending: the plan is scheduled from the day after it ends (202, `scheduled`), charged then.
    After it ended: the individual membership starts today and is charged now, 201 when paid,
    402 (`card_declined`) when the card was declined (convert again with another card to
    charge the same invoice), 202 when Stripe could not be reached yet."""

    allowed_roles: ClassVar[AllowedRoles] = frozenset({Role.MEMBER})
    error_responses: ClassVar[dict[str, tuple[str, ...]]] = {"POST": ("402", "404", "409")}

    @extend_schema(
        request=ConvertInputSerializer,
        responses={201: ConvertOutputSerializer, 202: ConvertOutputSerializer},
        tags=["me"],
    )
    def post(self, request: Request) -> Response:
        payload = ConvertInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        result = membership_convert(
            user=cast(User, request.user),
            price_code=data["price_code"],
            payment_method_id=data["payment_method_id"],
            prime_token=data.get("prime_token", ""),
        )
        if result.command_ids:
            stripe_outbox_push_now(command_ids=result.command_ids)  # outside any transaction
        membership = Membership.objects.select_related("price").get(pk=result.membership.pk)
        body = ConvertOutputSerializer(
            {
                "membership": membership,
                "scheduled": result.scheduled,
                "starts_on": result.starts_on,
                "invoice_id": result.invoice.pk if result.invoice else None,
            }
        ).data
        if result.invoice is None:
            return Response(body, status=status.HTTP_202_ACCEPTED)
        result.invoice.refresh_from_db()
        if result.invoice.status == InvoiceStatus.PAID:
            return Response(body, status=status.HTTP_201_CREATED)
        declined = (
            Payment.objects.filter(invoice=result.invoice, status=PaymentStatus.FAILED)
            .order_by("-id")
            .first()
        )
        queued = StripeCommand.objects.filter(
            id__in=result.command_ids, status__in=["pending", "in_progress"]
        ).exists()
        if declined is not None and not queued:
            error = error_body(
                code="card_declined",
                message=declined.failure_message or "The card was declined.",
                details={
                    "decline_code": declined.decline_code,
                    "membership_id": membership.pk,
                    "membership_status": membership.status,
                },
            )
            return Response(error, status=status.HTTP_402_PAYMENT_REQUIRED)
        return Response(body, status=status.HTTP_202_ACCEPTED)


class EmployerEnrollmentOutputSerializer(serializers.ModelSerializer[Enrollment]):
    entry_id = serializers.IntegerField()
    external_id = serializers.CharField(source="entry.external_id")
    full_name = serializers.CharField(source="entry.full_name")
    work_email = serializers.EmailField(source="entry.work_email")

    class Meta:
        model = Enrollment
        fields = (
            "id",
            "entry_id",
            "external_id",
            "full_name",
            "work_email",
            "starts_on",
            "ends_on",
        )


class EnrollmentListQuerySerializer(serializers.Serializer[Any]):
    open = serializers.BooleanField(
        required=False, help_text="true: only enrollments without an end date yet."
    )


class EmployerEnrollmentListApi(ScopedAPIView, ListAPIView):  # type: ignore[type-arg]
    """Enrollments of one employer, newest first (paginated): who (as on the roster) and from
    when to when. Another employer's list is a 404. `?open=true` keeps those not ended."""

    allowed_roles: ClassVar[AllowedRoles] = EMPLOYER_READERS
    queryset = Enrollment.objects.all()
    serializer_class = EmployerEnrollmentOutputSerializer

    def base_queryset(self) -> EnrollmentQuerySet:
        employer_id = self.kwargs["employer_id"]
        if not Employer.objects.visible_to(self.access).filter(pk=employer_id).exists():
            raise NotFoundError("No such employer.")
        rows = (
            Enrollment.objects.filter(employer_id=employer_id)
            .select_related("entry")
            .order_by("-starts_on", "-id")
        )
        query = EnrollmentListQuerySerializer(data=query_params_read(self.request))
        query.is_valid(raise_exception=True)
        if query.validated_data.get("open"):
            rows = rows.filter(ends_on__isnull=True)
        return rows

    @extend_schema(
        tags=["employers"],
        responses={200: EmployerEnrollmentOutputSerializer(many=True)},
        parameters=[EnrollmentListQuerySerializer],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)
