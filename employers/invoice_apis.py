"""An employer's invoices, for its benefits admins and staff: the list (paginated) and one
invoice with its member lines. Scoped by `EmployerInvoiceQuerySet.visible_to` and by the
employer in the path: another employer's invoices, and the list of an employer the caller may
not see, are a 404 like a missing one."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.scoped_views import ScopedAPIView
from accounts.permissions import AllowedRoles
from accounts.scoping import ScopedQuerySet
from billing.models import InvoiceLine, InvoiceStatus
from billing.proration import period_days
from employers.apis import EMPLOYER_READERS
from employers.models import Employer, EmployerInvoice
from employers.selectors import (
    employer_invoice_amount_due_cents,
    employer_invoice_due_on,
    employer_invoices,
    employer_invoices_with_lines,
)


class EmployerInvoiceLineOutputSerializer(serializers.ModelSerializer[InvoiceLine]):
    membership_id = serializers.IntegerField(read_only=True)
    member_name = serializers.CharField(
        source="membership.enrollment.entry.full_name",
        read_only=True,
        help_text="The member's name as on the employer's roster.",
    )
    days = serializers.SerializerMethodField(help_text="Days of the month covered by the line.")

    class Meta:
        model = InvoiceLine
        fields = (
            "id",
            "membership_id",
            "member_name",
            "description",
            "period_start",
            "period_end",
            "days",
            "amount_cents",
        )

    @extend_schema_field(OpenApiTypes.INT)
    def get_days(self, line: InvoiceLine) -> int:
        return period_days(line.period_start, line.period_end)


class EmployerInvoiceOutputSerializer(serializers.ModelSerializer[EmployerInvoice]):
    period = serializers.DateField(read_only=True, help_text="The first day of the month billed.")
    invoice_id = serializers.IntegerField(read_only=True)
    status = serializers.ChoiceField(source="invoice.status", choices=InvoiceStatus.choices)
    number = serializers.CharField(source="invoice.number", read_only=True)
    currency = serializers.CharField(source="invoice.currency", read_only=True)
    total_cents = serializers.IntegerField(source="invoice.total_cents", read_only=True)
    amount_paid_cents = serializers.IntegerField(source="invoice.amount_paid_cents", read_only=True)
    amount_due_cents = serializers.SerializerMethodField(
        help_text="What is left to pay (0 once paid or voided)."
    )
    days_until_due = serializers.IntegerField(source="invoice.days_until_due", read_only=True)
    due_on = serializers.SerializerMethodField(
        help_text="Finalization date plus the net days; null until Stripe finalized it."
    )
    hosted_invoice_url = serializers.CharField(source="invoice.hosted_invoice_url", read_only=True)

    class Meta:
        model = EmployerInvoice
        fields: tuple[str, ...] = (
            "id",
            "period",
            "invoice_id",
            "status",
            "number",
            "currency",
            "total_cents",
            "amount_paid_cents",
            "amount_due_cents",
            "days_until_due",
            "due_on",
            "hosted_invoice_url",
            "created_at",
        )

    @extend_schema_field(OpenApiTypes.INT)
    def get_amount_due_cents(self, row: EmployerInvoice) -> int:
        return employer_invoice_amount_due_cents(invoice=row.invoice)

    @extend_schema_field(OpenApiTypes.DATE)
    def get_due_on(self, row: EmployerInvoice) -> dt.date | None:
        return employer_invoice_due_on(invoice=row.invoice)


class EmployerInvoiceDetailOutputSerializer(EmployerInvoiceOutputSerializer):
    lines = EmployerInvoiceLineOutputSerializer(source="invoice.lines", many=True, read_only=True)

    class Meta(EmployerInvoiceOutputSerializer.Meta):
        fields = (*EmployerInvoiceOutputSerializer.Meta.fields, "lines")


class EmployerInvoiceListApi(ScopedAPIView, generics.ListAPIView):  # type: ignore[type-arg]
    """The employer's invoices, newest month first."""

    allowed_roles: ClassVar[AllowedRoles] = EMPLOYER_READERS
    queryset = employer_invoices()
    serializer_class = EmployerInvoiceOutputSerializer

    def base_queryset(self) -> ScopedQuerySet[Any]:
        return self.queryset.filter(employer_id=self.kwargs["employer_id"])

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not Employer.objects.visible_to(self.access).filter(pk=kwargs["employer_id"]).exists():
            raise NotFound()
        return super().list(request, *args, **kwargs)


class EmployerInvoiceDetailApi(ScopedAPIView, generics.RetrieveAPIView):  # type: ignore[type-arg]
    """One invoice of the employer with a line per member (name, covered days, amount)."""

    allowed_roles: ClassVar[AllowedRoles] = EMPLOYER_READERS
    queryset = employer_invoices_with_lines()
    serializer_class = EmployerInvoiceDetailOutputSerializer

    def base_queryset(self) -> ScopedQuerySet[Any]:
        return self.queryset.filter(employer_id=self.kwargs["employer_id"])
