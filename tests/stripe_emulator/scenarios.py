"""Small building blocks the emulator tests share, all through the real SDK."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import stripe

if TYPE_CHECKING:
    from stripe.params import InvoiceCreateParams


def customer_with_card(client: stripe.StripeClient, card: str = "pm_card_visa") -> Any:
    """A customer whose default invoice payment method is a card from the test token ``card``."""
    customer = client.v1.customers.create(params={"email": "member@example.com", "name": "M"})
    attached = client.v1.payment_methods.attach(card, params={"customer": customer.id})
    return client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": attached.id}}
    )


def draft_invoice(
    client: stripe.StripeClient, customer_id: str, *amounts: int, **invoice_params: Any
) -> Any:
    """A draft invoice with one invoice item per amount."""
    params = cast("InvoiceCreateParams", {"customer": customer_id, **invoice_params})
    invoice = client.v1.invoices.create(params=params)
    for number, amount in enumerate(amounts, start=1):
        client.v1.invoice_items.create(
            params={
                "customer": customer_id,
                "invoice": invoice.id,
                "amount": amount,
                "description": f"Item {number}",
            }
        )
    return client.v1.invoices.retrieve(invoice.id)


def paid_invoice(client: stripe.StripeClient, *amounts: int) -> Any:
    customer = customer_with_card(client)
    invoice = draft_invoice(client, customer.id, *amounts)
    client.v1.invoices.finalize_invoice(invoice.id)
    return client.v1.invoices.pay(invoice.id, params={"expand": ["payments"]})
