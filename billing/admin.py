from django.contrib import admin
from django.http import HttpRequest

from billing.models import (
    BillingCustomer,
    Invoice,
    InvoiceLine,
    Payment,
    StripeCommand,
    StripeEvent,
)


@admin.register(BillingCustomer)
class BillingCustomerAdmin(admin.ModelAdmin[BillingCustomer]):
    list_display = ("id", "name", "email", "stripe_customer_id", "default_payment_method_id")
    search_fields = ("email", "name", "stripe_customer_id")
    # Changes reach Stripe only through services (which queue a sync); not by editing rows here.
    readonly_fields = (
        "user",
        "employer",
        "email",
        "name",
        "stripe_customer_id",
        "payment_method_to_attach",
        "default_payment_method_id",
    )


class InvoiceLineInline(admin.TabularInline[InvoiceLine, Invoice]):
    model = InvoiceLine
    extra = 0
    can_delete = False
    readonly_fields = (
        "description",
        "amount_cents",
        "period_start",
        "period_end",
        "stripe_invoice_item_id",
    )


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin[Invoice]):
    list_display = (
        "id",
        "customer",
        "status",
        "total_cents",
        "number",
        "stripe_invoice_id",
        "created_at",
    )
    list_filter = ("status", "collection_method")
    search_fields = ("number", "stripe_invoice_id", "customer__email")
    inlines = (InvoiceLineInline,)

    def has_change_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        return False  # an invoice is fixed once written; corrections are credit notes

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # invoices are made by services (bill run), which also queue them


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin[Payment]):
    list_display = ("id", "invoice", "status", "amount_cents", "decline_code", "created_at")
    list_filter = ("status",)


@admin.register(StripeCommand)
class StripeCommandAdmin(admin.ModelAdmin[StripeCommand]):
    list_display = ("id", "kind", "status", "attempts", "next_attempt_at", "last_error")
    list_filter = ("status", "kind")
    search_fields = ("idempotency_key",)


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin[StripeEvent]):
    list_display = ("stripe_event_id", "type", "received_at", "processed_at", "processing_attempts")
    list_filter = ("type",)
    search_fields = ("stripe_event_id",)
    readonly_fields = ("raw_body", "payload")
