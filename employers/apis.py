"""Employers, their contracts and their benefits admins. Staff and an employer's own admins
read; operator admins create and change (employers, contracts, admin invitations).

Scoping: every route under /employers/{id}/ looks the employer up in the caller's scope first,
so an admin of another employer gets a 404 for everything, and an admin of this employer a 403
for what only operator admins may do."""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar, cast

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts.api.scoped_views import ScopedAPIView
from accounts.models import Role, User
from accounts.permissions import STAFF_ROLES, AllowedRoles, Audience
from accounts.selectors import user_access_get
from config.json_input import JSONInputSerializer
from employers.models import ContributionKind, Employer, EmployerContract
from employers.selectors import employer_contracts
from employers.services import (
    ContractInput,
    contract_create,
    contract_end,
    employer_admin_invite,
    employer_admin_password_set,
    employer_create,
    employer_update,
)
from idempotency.api import IdempotentMutationsMixin

EMPLOYER_READERS: AllowedRoles = STAFF_ROLES | {Role.EMPLOYER_ADMIN}
# Who creates and changes employers, contracts and benefits admins ("operator staff").
EMPLOYER_MANAGERS: frozenset[Role] = frozenset({Role.OPERATOR_ADMIN})


def caller(request: Request) -> User:
    return cast(User, request.user)  # RolePermission let only authenticated callers in


def require_employer_manager(request: Request) -> None:
    """403 unless the caller is an operator admin (call it after the scoped lookup, so that
    another tenant's employer is a 404 first)."""
    if not user_access_get(user=request.user).has_any(EMPLOYER_MANAGERS):
        raise PermissionDenied("Only operator admins may do this.")


class EmployerNestedMixin(ScopedAPIView):
    """For routes under /employers/{employer_id}/: `self.employer` is that employer if the
    caller may see it, else the request is a 404."""

    @cached_property
    def employer(self) -> Employer:
        return get_object_or_404(
            Employer.objects.visible_to(self.access), pk=self.kwargs["employer_id"]
        )


# --- employers ---------------------------------------------------------------------------------


class EmployerOutputSerializer(serializers.ModelSerializer[Employer]):
    code = serializers.CharField(
        read_only=True, help_text="The code employees type to enroll (e.g. K7Q2-MZ4P)."
    )

    class Meta:
        model = Employer
        fields = ("id", "name", "billing_email", "code", "created_at")


class EmployerCreateInputSerializer(JSONInputSerializer):
    name = serializers.CharField(max_length=200)
    billing_email = serializers.EmailField(help_text="Where the employer's invoices are sent.")


class EmployerUpdateInputSerializer(JSONInputSerializer):
    name = serializers.CharField(max_length=200, required=False)
    billing_email = serializers.EmailField(required=False)


class EmployerListApi(IdempotentMutationsMixin, ScopedAPIView, generics.ListAPIView):  # type: ignore[type-arg]
    """Employers the caller may see: all for staff, their own for an employer admin."""

    allowed_roles: ClassVar[AllowedRoles] = EMPLOYER_READERS
    queryset = Employer.objects.order_by("id")
    serializer_class = EmployerOutputSerializer
    idempotent_methods: ClassVar[frozenset[str]] = frozenset({"POST"})

    @extend_schema(request=EmployerCreateInputSerializer, responses={201: EmployerOutputSerializer})
    def post(self, request: Request) -> Response:
        """Create an employer (operator admins): its enrollment code is generated and its
        billing customer is created and queued for Stripe."""
        require_employer_manager(request)
        payload = EmployerCreateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        employer = employer_create(**payload.validated_data)
        return Response(EmployerOutputSerializer(employer).data, status=status.HTTP_201_CREATED)


class EmployerDetailApi(ScopedAPIView, generics.RetrieveAPIView):  # type: ignore[type-arg]
    allowed_roles: ClassVar[AllowedRoles] = EMPLOYER_READERS
    queryset = Employer.objects.all()
    serializer_class = EmployerOutputSerializer

    @extend_schema(request=EmployerUpdateInputSerializer, responses={200: EmployerOutputSerializer})
    def patch(self, request: Request, pk: int) -> Response:
        """Change the name or billing email (operator admins); the Stripe customer follows.
        The code never changes."""
        employer = self.get_object()
        require_employer_manager(request)
        payload = EmployerUpdateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        employer = employer_update(employer=employer, **payload.validated_data)
        return Response(EmployerOutputSerializer(employer).data)


# --- contracts ---------------------------------------------------------------------------------


class ContractOutputSerializer(serializers.ModelSerializer[EmployerContract]):
    contribution_kind = serializers.ChoiceField(choices=ContributionKind.choices)
    employer_share_cents = serializers.IntegerField(
        read_only=True, help_text="What the employer pays for a full member-month."
    )
    member_share_cents = serializers.IntegerField(
        read_only=True, help_text="What the member pays for a full member-month, on their card."
    )

    class Meta:
        model = EmployerContract
        fields = (
            "id",
            "pepm_cents",
            "currency",
            "contribution_kind",
            "contribution_cents",
            "employer_share_cents",
            "member_share_cents",
            "billing_day",
            "net_days",
            "effective_from",
            "effective_until",
            "created_at",
        )


MAX_PEPM_CENTS = 10**9  # far above any price; keeps amounts times members in a BIGINT


class ContractInputSerializer(JSONInputSerializer):
    pepm_cents = serializers.IntegerField(
        max_value=MAX_PEPM_CENTS, help_text="Price per enrolled member-month, in cents."
    )
    contribution_kind = serializers.ChoiceField(choices=ContributionKind.choices)
    contribution_cents = serializers.IntegerField(
        required=False,
        default=0,
        max_value=MAX_PEPM_CENTS,
        help_text="For `fixed`: what the employer pays per member-month (less than pepm_cents; "
        "the member pays the rest). 0 for `full`.",
    )
    billing_day = serializers.IntegerField(required=False, default=1, help_text="1 to 28.")
    net_days = serializers.IntegerField(required=False, default=30, min_value=0, max_value=365)
    effective_from = serializers.DateField()
    effective_until = serializers.DateField(
        required=False, allow_null=True, default=None, help_text="Exclusive; null: open-ended."
    )
    currency = serializers.RegexField(r"^[a-z]{3}$", required=False, default="usd")


class EmployerContractListApi(IdempotentMutationsMixin, EmployerNestedMixin):
    allowed_roles: ClassVar[AllowedRoles] = EMPLOYER_READERS
    queryset = Employer.objects.all()
    pagination_class = None  # an employer has a few contracts
    idempotent_methods: ClassVar[frozenset[str]] = frozenset({"POST"})
    error_responses: ClassVar[dict[str, tuple[str, ...]]] = {"POST": ("409",)}

    @extend_schema(responses={200: ContractOutputSerializer(many=True)})
    def get(self, request: Request, employer_id: int) -> Response:
        """The employer's contracts, oldest first (not paginated: an employer has a few)."""
        contracts = employer_contracts(employer=self.employer)
        return Response(ContractOutputSerializer(contracts, many=True).data)

    @extend_schema(request=ContractInputSerializer, responses={201: ContractOutputSerializer})
    def post(self, request: Request, employer_id: int) -> Response:
        """Add a contract (operator admins). Field rules: pepm_cents > 0; a fixed contribution
        is at least 0 and below pepm_cents; billing_day 1 to 28; effective_until after
        effective_from. A window overlapping another contract of the employer is a 409."""
        employer = self.employer
        require_employer_manager(request)
        payload = ContractInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        contract = contract_create(employer=employer, data=ContractInput(**payload.validated_data))
        return Response(ContractOutputSerializer(contract).data, status=status.HTTP_201_CREATED)


class ContractEndInputSerializer(JSONInputSerializer):
    effective_until = serializers.DateField(
        help_text="The first day the contract no longer applies (exclusive end); not in the past."
    )


class EmployerContractEndApi(EmployerNestedMixin):
    allowed_roles: ClassVar[AllowedRoles] = EMPLOYER_READERS
    queryset = Employer.objects.all()
    error_responses: ClassVar[dict[str, tuple[str, ...]]] = {"POST": ("404", "409")}

    @extend_schema(request=ContractEndInputSerializer, responses={200: ContractOutputSerializer})
    def post(self, request: Request, employer_id: int, contract_id: int) -> Response:
        """End a contract on a date (operator admins), e.g. to start new terms that day. Not in
        the past, after its start, not past an end already reached (409), and not into the
        next contract (409)."""
        contract = get_object_or_404(
            EmployerContract.objects.filter(employer=self.employer), pk=contract_id
        )
        require_employer_manager(request)
        payload = ContractEndInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        ended = contract_end(
            contract=contract, effective_until=payload.validated_data["effective_until"]
        )
        return Response(ContractOutputSerializer(ended).data)


# --- benefits admins ---------------------------------------------------------------------------


class AdminInviteInputSerializer(JSONInputSerializer):
    email = serializers.EmailField()
    full_name = serializers.CharField(max_length=200, required=False, default="")


class AdminInviteOutputSerializer(serializers.Serializer[Any]):
    user_id = serializers.IntegerField()
    email = serializers.EmailField()
    employer_id = serializers.IntegerField()
    user_created = serializers.BooleanField(
        help_text="A new account: the invitation email holds a one-time set-password link."
    )
    invited = serializers.BooleanField(
        help_text="False when the user already was an admin of this employer (nothing sent)."
    )


class EmployerAdminInviteApi(IdempotentMutationsMixin, EmployerNestedMixin):
    allowed_roles: ClassVar[AllowedRoles] = EMPLOYER_READERS
    queryset = Employer.objects.all()
    idempotent_methods: ClassVar[frozenset[str]] = frozenset({"POST"})

    @extend_schema(
        request=AdminInviteInputSerializer,
        responses={201: AdminInviteOutputSerializer, 200: AdminInviteOutputSerializer},
    )
    def post(self, request: Request, employer_id: int) -> Response:
        """Invite a benefits admin by email (operator admins). A new person gets an account
        without a password and an email with a one-time link to set one; an existing user gets
        the role and an email. 201 when invited, 200 when already an admin of this employer."""
        employer = self.employer
        require_employer_manager(request)
        payload = AdminInviteInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        invitation = employer_admin_invite(
            employer=employer,
            email=payload.validated_data["email"],
            full_name=payload.validated_data["full_name"],
            invited_by=caller(request),
        )
        body = AdminInviteOutputSerializer(
            {
                "user_id": invitation.user.pk,
                "email": invitation.user.email,
                "employer_id": employer.pk,
                "user_created": invitation.user_created,
                "invited": invitation.invited,
            }
        ).data
        return Response(
            body, status=status.HTTP_201_CREATED if invitation.invited else status.HTTP_200_OK
        )


class AdminPasswordSetInputSerializer(JSONInputSerializer):
    uid = serializers.CharField(max_length=64)
    token = serializers.CharField(max_length=128)
    password = serializers.CharField(min_length=10, max_length=256, trim_whitespace=False)


class EmployerAdminPasswordSetApi(APIView):
    allowed_roles: ClassVar[AllowedRoles] = Audience.PUBLIC
    authentication_classes = ()
    throttle_classes = (ScopedRateThrottle,)
    throttle_scope = "auth"

    @extend_schema(request=AdminPasswordSetInputSerializer, responses={204: None}, auth=[])
    def post(self, request: Request) -> Response:
        """Set an invited admin's password with the `uid` and `token` of the invitation link.
        The link works once; an invalid, expired or used one is a 400 `invalid_link`. Then log
        in at /api/v1/auth/token/."""
        payload = AdminPasswordSetInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        employer_admin_password_set(**payload.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)
