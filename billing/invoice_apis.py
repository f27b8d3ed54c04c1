"""Invoices for finance: the list and one invoice with its lines, payments, refunds and credit
notes, and the two ways to give back: a refund of a paid invoice's payment, a credit note on an
open invoice. Finance staff and operator admins only (any other role is refused with 403, as
on the ledger). Refunds and credit notes are queued for Stripe and answered `pending`; the
Stripe rail confirms them and the ledger posts them then. Both POSTs accept an
`Idempotency-Key`."""

from __future__ import annotations

from typing import Any, ClassVar, cast

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.scoped_views import ScopedAPIView
from accounts.models import User
from accounts.permissions import STAFF_ROLES, AllowedRoles
from billing.models import (
    BillingCustomer,
    CreditNote,
    Invoice,
    InvoiceLine,
    InvoiceQuerySet,
    InvoiceStatus,
    Payment,
    Refund,
)
from billing.selectors import (
    invoice_creditable_cents,
    invoices_filtered,
    invoices_with_details,
    payment_refundable_cents,
)
from billing.services import credit_note_create, invoice_refund
from config.json_input import JSONInputSerializer
from config.query_params import query_params_read
from idempotency.api import IdempotentMutationsMixin

INVOICE_STAFF: AllowedRoles = STAFF_ROLES
MAX_AMOUNT_CENTS = 10**12  # far above any invoice; keeps the number in a BIGINT


# --- serializers -------------------------------------------------------------------------------


class InvoiceFilterSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=InvoiceStatus.choices, required=False)
    search = serializers.CharField(
        required=False,
        max_length=200,
        help_text="Part of the customer's email or of the invoice number.",
    )
    created_from = serializers.DateField(
        required=False, help_text="Invoices created on or after this day (YYYY-MM-DD)."
    )
    created_to = serializers.DateField(
        required=False, help_text="Invoices created on or before this day (YYYY-MM-DD)."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("created_from"), attrs.get("created_to")
        if start is not None and end is not None and start > end:
            raise serializers.ValidationError({"created_to": "Must not be before created_from."})
        return attrs


class InvoiceCustomerOutputSerializer(serializers.ModelSerializer[BillingCustomer]):
    user_id = serializers.IntegerField(allow_null=True, help_text="Set for a member.")
    employer_id = serializers.IntegerField(allow_null=True, help_text="Set for an employer.")

    class Meta:
        model = BillingCustomer
        fields = ("id", "email", "name", "user_id", "employer_id")


class InvoiceOutputSerializer(serializers.ModelSerializer[Invoice]):
    customer = InvoiceCustomerOutputSerializer()
    amount_due_cents = serializers.IntegerField(
        read_only=True, help_text="The total less credit notes (what the invoice asks for)."
    )
    amount_remaining_cents = serializers.IntegerField(
        read_only=True, help_text="What is still to be paid."
    )

    class Meta:
        model = Invoice
        fields: tuple[str, ...] = (
            "id",
            "number",
            "status",
            "collection_method",
            "currency",
            "customer",
            "total_cents",
            "amount_credited_cents",
            "amount_due_cents",
            "amount_paid_cents",
            "amount_remaining_cents",
            "stripe_invoice_id",
            "hosted_invoice_url",
            "created_at",
            "finalized_at",
            "paid_at",
            "closed_at",
        )


class InvoiceLineOutputSerializer(serializers.ModelSerializer[InvoiceLine]):
    membership_id = serializers.IntegerField(allow_null=True)

    class Meta:
        model = InvoiceLine
        fields = (
            "id",
            "kind",
            "description",
            "amount_cents",
            "period_start",
            "period_end",
            "membership_id",
        )


class RefundOutputSerializer(serializers.ModelSerializer[Refund]):
    payment_id = serializers.IntegerField()
    currency = serializers.CharField(source="payment.currency")
    created_by_id = serializers.IntegerField(allow_null=True, help_text="Who asked for it.")

    class Meta:
        model = Refund
        fields = (
            "id",
            "payment_id",
            "amount_cents",
            "currency",
            "reason",
            "status",
            "stripe_refund_id",
            "created_by_id",
            "created_at",
        )


class PaymentOutputSerializer(serializers.ModelSerializer[Payment]):
    refunds = RefundOutputSerializer(many=True, source="refund_list")
    refundable_cents = serializers.SerializerMethodField()

    class Meta:
        model = Payment
        fields = (
            "id",
            "status",
            "amount_cents",
            "currency",
            "stripe_payment_intent_id",
            "failure_code",
            "decline_code",
            "created_at",
            "refundable_cents",
            "refunds",
        )

    def get_refundable_cents(self, payment: Payment) -> int:
        return payment_refundable_cents(payment=payment, refunds=_prefetched(payment, "refund"))


class CreditNoteOutputSerializer(serializers.ModelSerializer[CreditNote]):
    invoice_id = serializers.IntegerField()
    currency = serializers.CharField(source="invoice.currency")
    created_by_id = serializers.IntegerField(allow_null=True, help_text="Who asked for it.")

    class Meta:
        model = CreditNote
        fields = (
            "id",
            "invoice_id",
            "amount_cents",
            "currency",
            "reason",
            "status",
            "stripe_credit_note_id",
            "number",
            "created_by_id",
            "created_at",
        )


class InvoiceDetailOutputSerializer(InvoiceOutputSerializer):
    lines = InvoiceLineOutputSerializer(many=True, source="line_list")
    payments = PaymentOutputSerializer(many=True, source="payment_list")
    credit_notes = CreditNoteOutputSerializer(many=True, source="credit_note_list")
    refundable_cents = serializers.SerializerMethodField()
    creditable_cents = serializers.SerializerMethodField()

    class Meta(InvoiceOutputSerializer.Meta):
        fields = (
            *InvoiceOutputSerializer.Meta.fields,
            "refundable_cents",
            "creditable_cents",
            "lines",
            "payments",
            "credit_notes",
        )

    @extend_schema_field(
        serializers.IntegerField(help_text="What a refund may still give back (paid invoices).")
    )
    def get_refundable_cents(self, invoice: Invoice) -> int:
        return sum(
            payment_refundable_cents(payment=p, refunds=_prefetched(p, "refund"))
            for p in _prefetched(invoice, "payment")
        )

    @extend_schema_field(
        serializers.IntegerField(help_text="What a credit note may still take off (open ones).")
    )
    def get_creditable_cents(self, invoice: Invoice) -> int:
        return invoice_creditable_cents(
            invoice=invoice, credit_notes=_prefetched(invoice, "credit_note")
        )


def _prefetched(obj: Any, name: str) -> list[Any]:
    """The `<name>_list` that `invoices_with_details()` prefetched."""
    return cast(list[Any], getattr(obj, f"{name}_list"))


class RefundInputSerializer(JSONInputSerializer):
    amount_cents = serializers.IntegerField(min_value=1, max_value=MAX_AMOUNT_CENTS)
    reason = serializers.CharField(max_length=200, help_text="Why (kept for the audit trail).")
    payment_id = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="The payment to refund; by default the invoice's succeeded payment.",
    )


class CreditNoteInputSerializer(JSONInputSerializer):
    amount_cents = serializers.IntegerField(min_value=1, max_value=MAX_AMOUNT_CENTS)
    reason = serializers.CharField(
        max_length=200, help_text="Why (the credit note's memo in Stripe, and the audit trail)."
    )


# --- views -------------------------------------------------------------------------------------


class InvoiceScopedApi(ScopedAPIView):
    allowed_roles: ClassVar[AllowedRoles] = INVOICE_STAFF
    queryset = Invoice.objects.all()


class InvoiceListApi(InvoiceScopedApi, generics.ListAPIView):  # type: ignore[type-arg]
    """Invoices, newest first, with their customer; filter by status, a search on the
    customer's email or the invoice number, and the day created."""

    serializer_class = InvoiceOutputSerializer
    error_responses: ClassVar[dict[str, tuple[str, ...]]] = {"GET": ("400",)}

    def base_queryset(self) -> InvoiceQuerySet:
        query = InvoiceFilterSerializer(data=query_params_read(self.request))
        query.is_valid(raise_exception=True)
        given = query.validated_data
        return invoices_filtered(
            status=given.get("status"),
            search=given.get("search"),
            created_from=given.get("created_from"),
            created_to=given.get("created_to"),
        )

    @extend_schema(parameters=[InvoiceFilterSerializer])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class InvoiceDetailApi(InvoiceScopedApi, generics.RetrieveAPIView):  # type: ignore[type-arg]
    """One invoice with its lines, payments (with their refunds) and credit notes, and what
    can still be refunded or credited."""

    serializer_class = InvoiceDetailOutputSerializer

    def base_queryset(self) -> InvoiceQuerySet:
        return invoices_with_details()


def _caller(request: Request) -> User:
    return cast(User, request.user)  # RolePermission let only authenticated staff in


class InvoiceRefundCreateApi(IdempotentMutationsMixin, InvoiceScopedApi):
    error_responses: ClassVar[dict[str, tuple[str, ...]]] = {"POST": ("409",)}

    @extend_schema(request=RefundInputSerializer, responses={201: RefundOutputSerializer})
    def post(self, request: Request, pk: int) -> Response:
        """Refund part or all of a paid invoice to the card. Answered `pending`: the refund is
        queued for Stripe and posted to the ledger once Stripe confirms it. 409 when the invoice
        is not paid or the amount is more than is left to refund (details.refundable_cents)."""
        invoice = self.get_object()
        payload = RefundInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        refund = invoice_refund(
            invoice=invoice,
            amount_cents=data["amount_cents"],
            reason=data["reason"],
            payment_id=data.get("payment_id"),
            created_by=_caller(request),
        )
        return Response(RefundOutputSerializer(refund).data, status=status.HTTP_201_CREATED)


class InvoiceCreditNoteCreateApi(IdempotentMutationsMixin, InvoiceScopedApi):
    error_responses: ClassVar[dict[str, tuple[str, ...]]] = {"POST": ("409",)}

    @extend_schema(request=CreditNoteInputSerializer, responses={201: CreditNoteOutputSerializer})
    def post(self, request: Request, pk: int) -> Response:
        """Credit part of an open invoice (a Stripe credit note): it lowers what the invoice
        asks for. Answered `pending`: queued for Stripe, posted to the ledger once issued. 409
        when the invoice is not open (a paid one is refunded instead: details.use = refunds) or
        the amount is more than it has left to pay (details.creditable_cents)."""
        invoice = self.get_object()
        payload = CreditNoteInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        note = credit_note_create(
            invoice=invoice,
            amount_cents=data["amount_cents"],
            reason=data["reason"],
            created_by=_caller(request),
        )
        return Response(CreditNoteOutputSerializer(note).data, status=status.HTTP_201_CREATED)
