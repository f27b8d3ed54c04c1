"""Invoices and invoice items: Stripe's invoice workflow.

``draft`` → (finalize) → ``open`` → (pay) → ``paid``; ``open`` → ``uncollectible`` (which can
still be paid or voided); ``open``/``uncollectible`` → ``void``. Rules mirrored from Stripe:

- Only drafts take new invoice items and most updates; a finalized invoice accepts only
  ``metadata``, ``description``, ``footer`` and ``auto_advance`` changes.
- Totals: ``subtotal = total = sum of the lines``; ``amount_due = total`` + the customer balance
  applied at finalization - pre-payment credit notes; ``amount_remaining = amount_due -
  amount_paid``.
- Finalizing numbers the invoice ``{customer.invoice_prefix}-{sequence:04d}`` from the customer's
  ``next_invoice_sequence``, applies the customer's balance (a credit lowers ``amount_due``, a
  debit raises it), sets ``hosted_invoice_url``/``invoice_pdf``, ``effective_at`` and, for
  ``send_invoice``, ``due_date = finalized_at + days_until_due days``. An invoice with nothing to
  pay is ``paid`` at once.
- Paying charges ``payment_method`` (the parameter) or else the invoice's
  ``default_payment_method`` or else the customer's ``invoice_settings.default_payment_method``;
  paying a draft finalizes it first. A paid invoice answers ``invoice_already_paid``.
- Invoice items without ``invoice`` are pending: the next invoice of that customer created with
  ``pending_invoice_items_behavior=include`` takes them.

Not emulated: automatic collection or finalization (``auto_advance`` is stored, nothing happens by
itself), taxes, discounts, partial payments, subscriptions.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from stripe_emulator.context import (
    Call,
    Outcome,
    Params,
    list_window,
    metadata_param,
    page_object,
    reply,
    require,
)
from stripe_emulator.customers import merge_metadata, payment_method_for
from stripe_emulator.errors import invalid_request, parameter_missing
from stripe_emulator.payments import (
    charge_payment_intent,
    new_invoice_payment,
    new_invoice_payment_intent,
)
from stripe_emulator.templates import build, list_object, new_id, public, snapshot

MAX_AMOUNT = 99_999_999  # Stripe's limit for a USD amount: $999,999.99
MAX_ITEMS = 250  # invoice items per invoice
DAY = 86_400

INVOICE_CREATE_EMULATED = frozenset(
    {
        "auto_advance",
        "collection_method",
        "currency",
        "customer",
        "days_until_due",
        "default_payment_method",
        "description",
        "due_date",
        "expand",
        "footer",
        "metadata",
        "pending_invoice_items_behavior",
        "statement_descriptor",
    }
)
INVOICE_UPDATE_EMULATED = INVOICE_CREATE_EMULATED - {
    "customer",
    "currency",
    "pending_invoice_items_behavior",
}
FINALIZED_UPDATABLE = frozenset({"auto_advance", "description", "expand", "footer", "metadata"})
INVOICE_LIST_EMULATED = frozenset(
    {"created", "customer", "ending_before", "expand", "limit", "starting_after", "status"}
)
INVOICE_FINALIZE_EMULATED = frozenset({"auto_advance", "expand"})
INVOICE_PAY_EMULATED = frozenset({"expand", "off_session", "payment_method"})
INVOICE_ITEM_CREATE_EMULATED = frozenset(
    {
        "amount",
        "currency",
        "customer",
        "description",
        "discountable",
        "expand",
        "invoice",
        "metadata",
        "period",
        "quantity",
        "unit_amount_decimal",
    }
)


# ------------------------------------------------------------------------------------------
# Totals


def recompute_totals(invoice: dict[str, Any]) -> None:
    """Derive the amount fields from the lines, balance applied, credit notes and payments."""
    subtotal = sum(line["amount"] for line in invoice["lines"]["data"])
    balance_applied = invoice["_internal"].get("balance_applied", 0)
    amount_due = max(0, subtotal + balance_applied - invoice["pre_payment_credit_notes_amount"])
    invoice.update(
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal,
        total=subtotal,
        total_excluding_tax=subtotal,
        amount_due=amount_due,
        amount_remaining=max(0, amount_due - invoice["amount_paid"]),
    )


def hosted_invoice_url(call: Call, invoice_id: str) -> str:
    return f"{call.public_base}/i/{invoice_id}"


# ------------------------------------------------------------------------------------------
# Invoices


def _check_due_terms(invoice: dict[str, Any], call: Call) -> None:
    days = invoice["_internal"].get("days_until_due")
    if invoice["collection_method"] == "charge_automatically":
        if days is not None or invoice["due_date"] is not None:
            raise invalid_request(
                "You can only set days_until_due or due_date when collection_method is "
                "send_invoice.",
                param="days_until_due" if days is not None else "due_date",
            )
        return
    if days is None and invoice["due_date"] is None:
        raise invalid_request(
            "Invoices with collection_method=send_invoice need days_until_due or due_date.",
            param="days_until_due",
        )
    if days is not None and days < 0:
        raise invalid_request("days_until_due must be 0 or more.", param="days_until_due")
    if invoice["due_date"] is not None and invoice["due_date"] < call.now:
        raise invalid_request("due_date must be in the future.", param="due_date")


def _apply_invoice_params(call: Call, invoice: dict[str, Any], params: Params) -> None:
    for field in (
        "auto_advance",
        "collection_method",
        "description",
        "footer",
        "statement_descriptor",
    ):
        if field in params:
            invoice[field] = params[field]
    if "metadata" in params:
        invoice["metadata"] = merge_metadata(invoice["metadata"], params["metadata"])
    if "days_until_due" in params:
        invoice["_internal"]["days_until_due"] = params["days_until_due"]
    if "due_date" in params:
        invoice["due_date"] = params["due_date"]
    if "default_payment_method" in params:
        customer = call.load("customer", invoice["customer"], param="customer")
        payment_method = payment_method_for(
            call, params["default_payment_method"], customer, param="default_payment_method"
        )
        invoice["default_payment_method"] = payment_method["id"]


def customer_details(customer: dict[str, Any]) -> dict[str, Any]:
    """The customer fields an invoice copies, at creation and again when it is finalized."""
    return {
        "customer_address": customer["address"],
        "customer_email": customer["email"],
        "customer_name": customer["name"],
        "customer_phone": customer["phone"],
        "customer_shipping": customer["shipping"],
        "customer_tax_exempt": customer["tax_exempt"],
    }


def create_invoice(call: Call, params: Params) -> Outcome:
    customer = call.load("customer", require(params, "customer"), param="customer")
    currency = params.get("currency", customer["currency"] or "usd")
    _check_currency(currency)
    invoice_id = new_id("in")
    invoice = build(
        "invoice",
        {
            "id": invoice_id,
            "account_country": "US",
            "account_tax_ids": None,
            "amount_shipping": 0,
            "application": None,
            "attempt_count": 0,
            "attempted": False,
            "billing_reason": "manual",
            "collection_method": "charge_automatically",
            "created": call.now,
            "currency": currency,
            "custom_fields": None,
            "customer": customer["id"],
            **customer_details(customer),
            "customer_tax_ids": [],
            "default_payment_method": None,
            "default_source": None,
            "default_tax_rates": [],
            "description": None,
            "discounts": [],
            "ending_balance": None,
            "footer": None,
            "hosted_invoice_url": None,
            "invoice_pdf": None,
            "issuer": {"type": "self"},
            "latest_revision": None,
            "lines": list_object([], f"/v1/invoices/{invoice_id}/lines"),
            "metadata": {},
            "number": None,
            "on_behalf_of": None,
            "period_end": call.now,
            "period_start": call.now,
            "post_payment_credit_notes_amount": 0,
            "pre_payment_credit_notes_amount": 0,
            "receipt_number": None,
            "starting_balance": customer["balance"],
            "statement_descriptor": None,
            "status": "draft",
            "status_transitions": {
                "finalized_at": None,
                "marked_uncollectible_at": None,
                "paid_at": None,
                "voided_at": None,
            },
            "subscription": None,
            "test_clock": None,
            "total_discount_amounts": [],
            "automatically_finalizes_at": None,
            "customer_account": None,
        },
    )
    invoice["_internal"] = {}
    _apply_invoice_params(call, invoice, {**params, "metadata": metadata_param(params)})
    _check_due_terms(invoice, call)
    if params.get("pending_invoice_items_behavior") == "include":
        _take_pending_items(call, invoice)
    recompute_totals(invoice)
    call.store.insert(invoice)
    call.emit("invoice.created", invoice)
    return reply(call, invoice, params)


def _check_currency(currency: str) -> None:
    if len(currency) != 3 or not currency.isalpha() or not currency.islower():
        raise invalid_request(
            f"Invalid currency: {currency}. Use a three-letter ISO currency code in lowercase.",
            param="currency",
        )


def _take_pending_items(call: Call, invoice: dict[str, Any]) -> None:
    pending = call.store.page_objects(
        "invoiceitem", customer=invoice["customer"], status="pending", limit=MAX_ITEMS
    ).data
    for item in reversed(pending):  # oldest first, like the order they were added
        if item["currency"] != invoice["currency"]:
            continue
        item["invoice"] = invoice["id"]
        _save_item(call, item)
        invoice["lines"]["data"].append(_line_of(item))


def retrieve_invoice(call: Call, params: Params, invoice_id: str) -> Outcome:
    invoice = call.load("invoice", invoice_id, param="invoice")
    return reply(call, invoice, params)


def list_invoices(call: Call, params: Params) -> Outcome:
    page = call.store.page_objects(
        "invoice",
        customer=params.get("customer"),
        status=params.get("status"),
        **list_window(params),
    )
    return reply(call, page_object(page, "/v1/invoices"), params)


def update_invoice(call: Call, params: Params, invoice_id: str) -> Outcome:
    invoice = call.load("invoice", invoice_id, param="invoice")
    if invoice["status"] != "draft":
        for name in params:
            if name not in FINALIZED_UPDATABLE:
                raise invalid_request(
                    f"Finalized invoices can't be updated in this way: {name} can only be "
                    "changed on a draft invoice.",
                    param=name,
                    code="invoice_not_editable",
                )
    before = snapshot(invoice)
    _apply_invoice_params(call, invoice, params)
    if invoice["status"] == "draft":
        _check_due_terms(invoice, call)
    if public(invoice) != before:
        call.store.save(invoice)
        call.emit("invoice.updated", invoice, previous=before)
    return reply(call, invoice, params)


def _finalize(call: Call, invoice: dict[str, Any]) -> None:
    """draft → open (or paid when nothing is due), with the invoice.finalized event."""
    before = snapshot(invoice)
    customer = call.load("customer", invoice["customer"], param="customer")
    sequence = customer["next_invoice_sequence"]
    starting_balance = customer["balance"]
    ending_balance = min(0, starting_balance + invoice["total"])
    customer["next_invoice_sequence"] = sequence + 1
    customer["balance"] = ending_balance
    customer["currency"] = customer["currency"] or invoice["currency"]
    call.store.save(customer)

    invoice["_internal"]["balance_applied"] = starting_balance - ending_balance
    days = invoice["_internal"].get("days_until_due")
    if invoice["collection_method"] == "send_invoice" and invoice["due_date"] is None:
        invoice["due_date"] = call.now + days * DAY if days is not None else None
    hosted = hosted_invoice_url(call, invoice["id"])
    invoice.update(customer_details(customer))  # frozen from now on, as in Stripe
    invoice.update(
        status="open",
        number=f"{customer['invoice_prefix']}-{sequence:04d}",
        starting_balance=starting_balance,
        ending_balance=ending_balance,
        effective_at=call.now,
        hosted_invoice_url=hosted,
        invoice_pdf=f"{hosted}/pdf",
        status_transitions={**invoice["status_transitions"], "finalized_at": call.now},
    )
    recompute_totals(invoice)
    call.emit("invoice.finalized", invoice, previous=before)
    if invoice["amount_remaining"] == 0:
        mark_paid(call, invoice, with_payment_event=True)


def mark_paid(call: Call, invoice: dict[str, Any], *, with_payment_event: bool) -> None:
    """open/uncollectible → paid, with invoice.paid (and invoice.payment_succeeded)."""
    before = snapshot(invoice)
    invoice["status"] = "paid"
    invoice["status_transitions"] = {**invoice["status_transitions"], "paid_at": call.now}
    invoice["next_payment_attempt"] = None
    recompute_totals(invoice)
    call.emit("invoice.paid", invoice, previous=before)
    if with_payment_event:
        call.emit("invoice.payment_succeeded", invoice)


def finalize_invoice(call: Call, params: Params, invoice_id: str) -> Outcome:
    invoice = call.load("invoice", invoice_id, param="invoice")
    if invoice["status"] != "draft":
        raise invalid_request(
            "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
            code="invoice_not_editable",
        )
    if "auto_advance" in params:
        invoice["auto_advance"] = params["auto_advance"]
    _finalize(call, invoice)
    call.store.save(invoice)
    return reply(call, invoice, params)


def pay_invoice(call: Call, params: Params, invoice_id: str) -> Outcome:
    invoice = call.load("invoice", invoice_id, param="invoice")
    if invoice["status"] == "paid":
        raise invalid_request("Invoice is already paid", code="invoice_already_paid")
    if invoice["status"] == "void":
        raise invalid_request("This invoice is void and can no longer be paid.")
    if invoice["status"] == "draft":
        _finalize(call, invoice)
        if invoice["status"] == "paid":
            call.store.save(invoice)
            return reply(call, invoice, params)

    customer = call.load("customer", invoice["customer"], param="customer")
    payment_method_id = (
        params.get("payment_method")
        or invoice["default_payment_method"]
        or customer["invoice_settings"]["default_payment_method"]
    )
    if payment_method_id is None:
        raise invalid_request(
            "This customer has no attached payment source or default payment method. Pass a "
            "payment_method, or set default_payment_method on the invoice or "
            "invoice_settings[default_payment_method] on the customer.",
        )
    param = "payment_method" if "payment_method" in params else "default_payment_method"
    payment_method = payment_method_for(call, payment_method_id, customer, param=param)

    payment_intent, invoice_payment = _payment_objects(call, invoice)
    attempt = charge_payment_intent(call, payment_intent, payment_method)
    before = snapshot(invoice)
    invoice["attempted"] = True
    invoice["attempt_count"] += 1
    if attempt.error is not None:
        call.store.save(invoice)
        call.emit("invoice.payment_failed", invoice, previous=before)
        return attempt.error

    invoice_payment.update(
        status="paid",
        amount_paid=payment_intent["amount"],
        status_transitions={**invoice_payment["status_transitions"], "paid_at": call.now},
    )
    call.store.save(invoice_payment)
    invoice["amount_paid"] += payment_intent["amount"]
    mark_paid(call, invoice, with_payment_event=False)
    call.store.save(invoice)
    call.emit("invoice.payment_succeeded", invoice)
    return reply(call, invoice, params)


def _payment_objects(call: Call, invoice: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The invoice's PaymentIntent and default InvoicePayment, made at the first attempt."""
    internal = invoice["_internal"]
    if "payment_intent" in internal:
        payment_intent = call.load("payment_intent", internal["payment_intent"])
        invoice_payment = call.load("invoice_payment", internal["invoice_payment"])
        if payment_intent["amount"] != invoice["amount_remaining"]:
            # A credit note changed what is due since the last attempt.
            payment_intent["amount"] = invoice["amount_remaining"]
            invoice_payment["amount_requested"] = invoice["amount_remaining"]
            call.store.save(invoice_payment)
        return payment_intent, invoice_payment
    payment_intent = new_invoice_payment_intent(call, invoice)
    invoice_payment = new_invoice_payment(call, invoice, payment_intent)
    call.store.insert(payment_intent, parent=invoice["id"])
    call.store.insert(invoice_payment, parent=invoice["id"])
    internal["payment_intent"] = payment_intent["id"]
    internal["invoice_payment"] = invoice_payment["id"]
    return payment_intent, invoice_payment


def send_invoice(call: Call, params: Params, invoice_id: str) -> Outcome:
    invoice = call.load("invoice", invoice_id, param="invoice")
    if invoice["collection_method"] != "send_invoice":
        raise invalid_request(
            "You can only manually send an invoice if its collection method is 'send_invoice'."
        )
    if invoice["status"] != "open":
        raise invalid_request(
            f"You can only send open invoices; this invoice is {invoice['status']}."
        )
    call.emit("invoice.sent", invoice)
    return reply(call, invoice, params)


def void_invoice(call: Call, params: Params, invoice_id: str) -> Outcome:
    invoice = call.load("invoice", invoice_id, param="invoice")
    status = invoice["status"]
    if status == "draft":
        raise invalid_request(
            "You can only void open or uncollectible invoices; this invoice is a draft. "
            "Delete a draft instead of voiding it."
        )
    if status == "paid":
        raise invalid_request("You cannot void a paid invoice.")
    if status == "void":
        raise invalid_request("This invoice is already void.")
    before = snapshot(invoice)
    invoice["status"] = "void"
    invoice["status_transitions"] = {**invoice["status_transitions"], "voided_at": call.now}
    invoice["next_payment_attempt"] = None
    _cancel_payment(call, invoice)
    call.store.save(invoice)
    call.emit("invoice.voided", invoice, previous=before)
    return reply(call, invoice, params)


def _cancel_payment(call: Call, invoice: dict[str, Any]) -> None:
    """Voiding cancels the invoice's unpaid PaymentIntent and InvoicePayment, as Stripe does."""
    internal = invoice["_internal"]
    if "payment_intent" not in internal:
        return
    payment_intent = call.load("payment_intent", internal["payment_intent"])
    payment_intent.update(
        status="canceled", canceled_at=call.now, cancellation_reason="void_invoice"
    )
    call.store.save(payment_intent)
    invoice_payment = call.load("invoice_payment", internal["invoice_payment"])
    invoice_payment["status"] = "canceled"
    invoice_payment["status_transitions"] = {
        **invoice_payment["status_transitions"],
        "canceled_at": call.now,
    }
    call.store.save(invoice_payment)


def mark_uncollectible(call: Call, params: Params, invoice_id: str) -> Outcome:
    invoice = call.load("invoice", invoice_id, param="invoice")
    if invoice["status"] != "open":
        raise invalid_request(
            f"You can only mark open invoices as uncollectible; this invoice is "
            f"{invoice['status']}."
        )
    before = snapshot(invoice)
    invoice["status"] = "uncollectible"
    invoice["status_transitions"] = {
        **invoice["status_transitions"],
        "marked_uncollectible_at": call.now,
    }
    call.store.save(invoice)
    call.emit("invoice.marked_uncollectible", invoice, previous=before)
    return reply(call, invoice, params)


# ------------------------------------------------------------------------------------------
# Invoice items


def _item_amount(params: Params) -> tuple[int, int, str]:
    """(amount, quantity, unit_amount_decimal) from ``amount`` or ``unit_amount_decimal``."""
    if "amount" in params and "unit_amount_decimal" in params:
        raise invalid_request(
            "You may only specify one of these parameters: amount, unit_amount_decimal.",
            param="amount",
            code="parameters_exclusive",
        )
    quantity = params.get("quantity", 1)
    if quantity < 0:
        raise invalid_request("quantity must be a non-negative integer.", param="quantity")
    if "amount" in params:
        if "quantity" in params and quantity != 1:
            raise invalid_request(
                "amount is the total of the invoice item; to set a quantity, pass "
                "unit_amount_decimal instead.",
                param="quantity",
            )
        amount = params["amount"]
        unit = str(amount)
    elif "unit_amount_decimal" in params:
        unit_decimal: Decimal = params["unit_amount_decimal"]
        amount = int((unit_decimal * quantity).to_integral_value(rounding=ROUND_HALF_UP))
        unit = format(unit_decimal.normalize(), "f")
    else:
        raise parameter_missing("amount")
    if abs(amount) > MAX_AMOUNT:
        raise invalid_request(
            "Amount must be no more than $999,999.99", param="amount", code="amount_too_large"
        )
    return amount, quantity, unit


def _line_of(item: dict[str, Any]) -> dict[str, Any]:
    """The invoice line (``il_…``) showing an invoice item on its invoice."""
    return build(
        "line_item",
        {
            "id": new_id("il"),
            "amount": item["amount"],
            "currency": item["currency"],
            "description": item["description"],
            "discount_amounts": [],
            "discountable": item["discountable"],
            "discounts": [],
            "invoice": item["invoice"],
            "metadata": item["metadata"],
            "period": item["period"],
            "quantity": item["quantity"],
            "subscription": None,
            "parent": {
                "invoice_item_details": {
                    "invoice_item": item["id"],
                    "proration": False,
                    "proration_details": {"credited_items": None},
                    "subscription": None,
                },
                "subscription_item_details": None,
                "type": "invoice_item_details",
            },
            "pricing": item["pricing"],
            "subtotal": item["amount"],
            "quantity_decimal": item["quantity_decimal"],
        },
    )


def _save_item(call: Call, item: dict[str, Any]) -> None:
    item["_internal"]["status"] = "pending" if item["invoice"] is None else "invoiced"
    call.store.save(item)


def create_invoice_item(call: Call, params: Params) -> Outcome:
    customer = call.load("customer", require(params, "customer"), param="customer")
    invoice = None
    if "invoice" in params:
        invoice = call.load("invoice", params["invoice"], param="invoice")
        if invoice["status"] != "draft":
            raise invalid_request(
                f"You can only add invoice items to draft invoices; invoice {invoice['id']} is "
                f"{invoice['status']}.",
                param="invoice",
                code="invoice_not_editable",
            )
        if len(invoice["lines"]["data"]) >= MAX_ITEMS:
            raise invalid_request(
                f"An invoice can have at most {MAX_ITEMS} invoice items.", param="invoice"
            )
        if invoice["customer"] != customer["id"]:
            raise invalid_request(
                f"The invoice {invoice['id']} belongs to customer {invoice['customer']}, not "
                f"{customer['id']}.",
                param="invoice",
            )
    currency = params.get(
        "currency", invoice["currency"] if invoice else customer["currency"] or "usd"
    )
    _check_currency(currency)
    if invoice is not None and currency != invoice["currency"]:
        raise invalid_request(
            f"The currency of the invoice item ({currency}) must match the currency of the "
            f"invoice ({invoice['currency']}).",
            param="currency",
        )
    amount, quantity, unit = _item_amount(params)
    period = params.get("period", {"start": call.now, "end": call.now})
    if period["end"] < period["start"]:
        raise invalid_request(
            "The period end must be greater than or equal to the period start.",
            param="period[end]",
        )
    item = build(
        "invoiceitem",
        {
            "id": new_id("ii"),
            "amount": amount,
            "currency": currency,
            "customer": customer["id"],
            "date": call.now,
            "description": params.get("description"),
            "discountable": params.get("discountable", amount >= 0),
            "discounts": [],
            "invoice": None if invoice is None else invoice["id"],
            "metadata": metadata_param(params),
            "period": {"start": period["start"], "end": period["end"]},
            "proration": False,
            "quantity": quantity,
            "tax_rates": [],
            "test_clock": None,
            "pricing": {"type": "price_details", "unit_amount_decimal": unit},
            "net_amount": amount,
            "customer_account": None,
            "quantity_decimal": str(quantity),
        },
    )
    item["_internal"] = {"status": "pending" if invoice is None else "invoiced"}
    call.store.insert(item)
    call.emit("invoiceitem.created", item)
    if invoice is not None:
        before = snapshot(invoice)
        invoice["lines"]["data"].append(_line_of(item))
        recompute_totals(invoice)
        call.store.save(invoice)
        call.emit("invoice.updated", invoice, previous=before)
    return reply(call, item, params)


def retrieve_invoice_item(call: Call, params: Params, item_id: str) -> Outcome:
    item = call.load("invoiceitem", item_id, param="invoiceitem")
    return reply(call, item, params)
