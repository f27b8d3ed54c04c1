from django.contrib import admin

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
    readonly_fields = (
        "status",
        "amount_paid_cents",
        "stripe_invoice_id",
        "number",
        "hosted_invoice_url",
    )


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
