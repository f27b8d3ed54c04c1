"""Partner revenue-share statements: finance staff see and act on every statement, a partner
viewer reads their own partner's. Every route is scoped by `StatementQuerySet.visible_to`, so
another partner's statement is a 404 on every route, actions included; only then is a partner
viewer refused (403) the finance-only actions (approve, payout)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any, ClassVar, cast

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.permissions import BasePermission
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.scoped_views import ScopedAPIView
from accounts.models import Role, User
from accounts.permissions import STAFF_ROLES, AllowedRoles, RolePermission
from accounts.selectors import user_access_get
from config.json_input import JSONInputSerializer
from config.query_params import query_params_read
from ledger.models import Statement, StatementLine, StatementStatus
from ledger.statement_export import (
    StatementTotals,
    statement_csv,
    statement_filename,
    statement_lines,
    statement_pdf,
    statement_totals,
)
from ledger.statements import statement_approve, statement_payout_record

STATEMENT_READERS: AllowedRoles = STAFF_ROLES | {Role.PARTNER_VIEWER}
STATEMENT_APPROVERS = STAFF_ROLES  # finance staff and operator admins
# YYYY-MM from 0001-01 (there is no year 0: "0000-01" was a 500, found by schema fuzzing)
MONTH_PATTERN = r"^(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-(0[1-9]|1[0-2])$"


# --- serializers -------------------------------------------------------------------------------


@extend_schema_field(
    {"type": "string", "pattern": MONTH_PATTERN, "example": "2026-10", "description": "YYYY-MM"}
)
class MonthField(serializers.Field[dt.date, str, str, Any]):
    """A month as `YYYY-MM`, held as the date of its first day."""

    default_error_messages = {"invalid": "Give a month as YYYY-MM, e.g. 2026-10."}

    def to_internal_value(self, data: Any) -> dt.date:
        if not isinstance(data, str) or not re.fullmatch(MONTH_PATTERN, data):
            self.fail("invalid")
        year, month = data.split("-")
        return dt.date(int(year), int(month), 1)

    def to_representation(self, value: dt.date) -> str:
        return f"{value:%Y-%m}"


class StatementFilterSerializer(serializers.Serializer[Any]):
    partner = serializers.IntegerField(
        min_value=1, required=False, help_text="Only this partner's statements (partner id)."
    )
    period = MonthField(required=False, help_text="Only this month's statements (YYYY-MM).")
    status = serializers.ChoiceField(choices=StatementStatus.choices, required=False)


class StatementLineOutputSerializer(serializers.ModelSerializer[StatementLine]):
    market_id = serializers.IntegerField()
    market_name = serializers.CharField(source="market.name")
    adjusts_period = MonthField(allow_null=True, help_text="The month an adjustment line corrects.")

    class Meta:
        model = StatementLine
        fields = (
            "id",
            "kind",
            "market_id",
            "market_name",
            "adjusts_period",
            "recognized_cents",
            "refunds_cents",
            "net_cents",
            "share_cents",
            "recoupment_cents",
            "amount_cents",
            "active_members",
            "new_members",
            "churned_members",
        )


class StatementTotalsSerializer(serializers.Serializer[StatementTotals]):
    recognized_cents = serializers.IntegerField()
    refunds_cents = serializers.IntegerField()
    net_cents = serializers.IntegerField()
    share_cents = serializers.IntegerField()
    recoupment_cents = serializers.IntegerField()
    adjustment_cents = serializers.IntegerField()
    amount_cents = serializers.IntegerField(help_text="The amount due, adjustments included.")
    active_members = serializers.IntegerField()
    new_members = serializers.IntegerField()
    churned_members = serializers.IntegerField()


class StatementOutputSerializer(serializers.ModelSerializer[Statement]):
    partner_id = serializers.IntegerField()
    partner_name = serializers.CharField(source="partner.name")
    period = MonthField()
    currency = serializers.SerializerMethodField()

    class Meta:
        model = Statement
        fields: tuple[str, ...] = (
            "id",
            "partner_id",
            "partner_name",
            "period",
            "status",
            "currency",
            "net_cents",
            "share_cents",
            "amount_due_cents",
            "generated_at",
            "approved_at",
            "paid_at",
        )

    def get_currency(self, statement: Statement) -> str:
        return "usd"


class StatementDetailOutputSerializer(StatementOutputSerializer):
    approved_by_id = serializers.IntegerField(allow_null=True)
    lines = serializers.SerializerMethodField()
    totals = serializers.SerializerMethodField()

    class Meta(StatementOutputSerializer.Meta):
        fields = (
            *StatementOutputSerializer.Meta.fields,
            "approved_by_id",
            "payout_reference",
            "lines",
            "totals",
        )

    @extend_schema_field(StatementLineOutputSerializer(many=True))
    def get_lines(self, statement: Statement) -> Any:
        return StatementLineOutputSerializer(statement_lines(statement=statement), many=True).data

    @extend_schema_field(StatementTotalsSerializer)
    def get_totals(self, statement: Statement) -> Any:
        totals = statement_totals(statement=statement, lines=statement_lines(statement=statement))
        return StatementTotalsSerializer(totals).data


class StatementPayoutInputSerializer(JSONInputSerializer):
    reference = serializers.CharField(
        max_length=200, help_text="The payment's reference (bank transfer id, check number)."
    )


# --- views ---------------------------------------------------------------------------------------


class StatementApprovers(BasePermission):
    """Finance-only actions. Checked on the object, i.e. after the scoped lookup, so that a
    partner viewer asking for another partner's statement gets the same 404 as for any other
    route, and a 403 only for their own."""

    message = "Only finance staff and operator admins may do this."

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return user_access_get(user=request.user).has_any(STATEMENT_APPROVERS)


class StatementScopedApi(ScopedAPIView):
    allowed_roles: ClassVar[AllowedRoles] = STATEMENT_READERS
    queryset = Statement.objects.select_related("partner").order_by("-period", "partner__name")


class StatementListApi(StatementScopedApi, generics.ListAPIView):  # type: ignore[type-arg]
    """Statements the caller may see (all for finance staff, their partner's for a partner
    viewer), newest month first, optionally filtered."""

    serializer_class = StatementOutputSerializer
    error_responses: ClassVar[dict[str, tuple[str, ...]]] = {"GET": ("400",)}

    @extend_schema(parameters=[StatementFilterSerializer])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def filter_queryset(self, queryset: Any) -> Any:
        query = StatementFilterSerializer(data=query_params_read(self.request))
        query.is_valid(raise_exception=True)
        wanted = query.validated_data
        if "partner" in wanted:
            queryset = queryset.filter(partner_id=wanted["partner"])
        if "period" in wanted:
            queryset = queryset.filter(period=wanted["period"])
        if "status" in wanted:
            queryset = queryset.filter(status=wanted["status"])
        return queryset


class StatementDetailApi(StatementScopedApi, generics.RetrieveAPIView):  # type: ignore[type-arg]
    """One statement with its lines (markets, then prior-period adjustments) and totals."""

    serializer_class = StatementDetailOutputSerializer


class StatementActionApi(StatementScopedApi):
    permission_classes = (RolePermission, StatementApprovers)
    error_responses: ClassVar[dict[str, tuple[str, ...]]] = {"POST": ("409",)}

    def detail_response(self, statement: Statement) -> Response:
        return Response(StatementDetailOutputSerializer(statement).data)


def _caller(request: Request) -> User:
    return cast(User, request.user)  # RolePermission let only authenticated callers in


class StatementApproveApi(StatementActionApi):
    @extend_schema(request=None, responses={200: StatementDetailOutputSerializer})
    def post(self, request: Request, pk: int) -> Response:
        """Approve a draft (finance staff): it is regenerated one last time, locked, and its
        amount accrued to the partner's payable. Anything but a draft is a 409."""
        statement = statement_approve(statement=self.get_object(), actor=_caller(request))
        return self.detail_response(statement)


class StatementPayoutApi(StatementActionApi):
    @extend_schema(
        request=StatementPayoutInputSerializer, responses={200: StatementDetailOutputSerializer}
    )
    def post(self, request: Request, pk: int) -> Response:
        """Record that an approved statement was paid out (finance staff). Anything but an
        approved statement is a 409."""
        statement = self.get_object()  # 404 or 403 before any word about the body
        payload = StatementPayoutInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        statement = statement_payout_record(
            statement=statement,
            actor=_caller(request),
            reference=payload.validated_data["reference"],
        )
        return self.detail_response(statement)


class _FirstRendererNegotiation(BaseContentNegotiation):
    """The exports answer in their own media type whatever `Accept` says (no 406), and their
    errors in the JSON error format."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return None  # the exports take no body


def _attachment(content: str | bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class StatementCsvApi(StatementScopedApi):
    content_negotiation_class = _FirstRendererNegotiation

    @extend_schema(
        operation_id="api_v1_statements_export_csv",
        responses={(200, "text/csv"): OpenApiTypes.STR},
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        """The statement as CSV: one row per line, money in integer cents, then a totals row."""
        statement = self.get_object()
        return _attachment(
            statement_csv(statement=statement),
            "text/csv; charset=utf-8",
            statement_filename(statement=statement, extension="csv"),
        )


class StatementPdfApi(StatementScopedApi):
    content_negotiation_class = _FirstRendererNegotiation

    @extend_schema(
        operation_id="api_v1_statements_export_pdf",
        responses={(200, "application/pdf"): OpenApiTypes.BINARY},
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        """The statement as a one-page PDF with a chart of the partner's last 12 months."""
        statement = self.get_object()
        return _attachment(
            statement_pdf(statement=statement),
            "application/pdf",
            statement_filename(statement=statement, extension="pdf"),
        )
