"""Credit notes: lowering what an invoice asks for, or giving back what was paid.

Rules mirrored from Stripe:

- Only ``open``, ``uncollectible`` and ``paid`` invoices take credit notes.
- The total is ``amount``, or the sum of ``lines`` (both given: they must agree). An
  ``invoice_line_item`` line credits ``amount`` (or ``quantity`` units) of one invoice line and
  never more than what is left of that line; a ``custom_line_item`` line is
  ``unit_amount * quantity``.
- On an unpaid invoice the note is *pre-payment*: it lowers ``amount_due`` (never below zero:
  the total cannot exceed ``amount_remaining``); an invoice left with nothing to pay is ``paid``.
- On a paid invoice the note is *post-payment* and cannot exceed ``amount_paid`` minus earlier
  post-payment notes. ``refund_amount`` refunds the invoice's charge, ``credit_amount`` credits
  the customer's balance, ``out_of_band_amount`` records money returned elsewhere; they add up to
  the total, whatever is not assigned going to ``credit_amount``.
- Numbers are ``{invoice number}-CN-{nn}``, counting the invoice's credit notes.
"""

from __future__ import annotations

from typing import Any

from stripe_emulator.context import Call, Outcome, Params, metadata_param, reply
from stripe_emulator.errors import invalid_request, parameter_missing
from stripe_emulator.invoices import mark_paid, recompute_totals
from stripe_emulator.payments import refund_charge
from stripe_emulator.templates import build, list_object, new_id, snapshot

CREDIT_NOTE_CREATE_EMULATED = frozenset(
    {
        "amount",
        "credit_amount",
        "effective_at",
        "expand",
        "invoice",
        "lines.amount",
        "lines.description",
        "lines.invoice_line_item",
        "lines.metadata",
        "lines.quantity",
        "lines.type",
        "lines.unit_amount",
        "memo",
        "metadata",
        "out_of_band_amount",
        "reason",
        "refund_amount",
    }
)

# Credit note reasons that Refunds also know.
_REFUND_REASONS = {"duplicate": "duplicate", "fraudulent": "fraudulent"}


def _credited_per_line(call: Call, invoice_id: str) -> dict[str, int]:
    credited: dict[str, int] = {}
    for note in call.store.children("credit_note", invoice_id):
        for line in note["lines"]["data"]:
            if line["type"] == "invoice_line_item":
                key = line["invoice_line_item"]
                credited[key] = credited.get(key, 0) + line["amount"]
    return credited


def _note_lines(
    call: Call, invoice: dict[str, Any], lines: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    invoice_lines = {line["id"]: line for line in invoice["lines"]["data"]}
    credited = _credited_per_line(call, invoice["id"])
    result = []
    for index, line in enumerate(lines):
        path = f"lines[{index}]"
        values: dict[str, Any] = {
            "id": new_id("cnli"),
            "discount_amount": 0,
            "discount_amounts": [],
            "quantity": line.get("quantity", 1),
            "type": line["type"],
            "metadata": line.get("metadata"),
        }
        if line["type"] == "invoice_line_item":
            if "invoice_line_item" not in line:
                raise parameter_missing(f"{path}[invoice_line_item]")
            invoice_line = invoice_lines.get(line["invoice_line_item"])
            if invoice_line is None:
                raise invalid_request(
                    f"Invoice {invoice['id']} has no line item {line['invoice_line_item']}.",
                    param=f"{path}[invoice_line_item]",
                )
            if "amount" in line:
                amount = line["amount"]
            else:
                quantity = line.get("quantity", invoice_line["quantity"])
                amount = invoice_line["amount"] * quantity // max(1, invoice_line["quantity"])
                values["quantity"] = quantity
            left = invoice_line["amount"] - credited.get(invoice_line["id"], 0)
            if amount > left:
                raise invalid_request(
                    f"The credit amount {amount} exceeds what is left to credit on invoice line "
                    f"{invoice_line['id']} ({left}).",
                    param=f"{path}[amount]",
                )
            credited[invoice_line["id"]] = credited.get(invoice_line["id"], 0) + amount
            values.update(
                amount=amount,
                description=invoice_line["description"],
                invoice_line_item=invoice_line["id"],
                unit_amount=None,
                unit_amount_decimal=None,
            )
        elif line["type"] == "custom_line_item":
            if "unit_amount" not in line:
                raise parameter_missing(f"{path}[unit_amount]")
            if "description" not in line:
                raise parameter_missing(f"{path}[description]")
            values.update(
                amount=line["unit_amount"] * values["quantity"],
                description=line["description"],
                unit_amount=line["unit_amount"],
                unit_amount_decimal=str(line["unit_amount"]),
            )
        else:
            raise invalid_request(
                f"Invalid {path}[type]: must be one of custom_line_item or invoice_line_item",
                param=f"{path}[type]",
            )
        if values["amount"] <= 0:
            raise invalid_request(
                "Credit note line amounts must be positive.", param=f"{path}[amount]"
            )
        note_line = build("credit_note_line_item", values)
        if line["type"] == "custom_line_item":
            # Stripe's example has no invoice_line_item on custom lines.
            del note_line["invoice_line_item"]
        result.append(note_line)
    return result


def create_credit_note(call: Call, params: Params) -> Outcome:
    invoice = call.load("invoice", params["invoice"], param="invoice")
    if invoice["status"] not in ("open", "uncollectible", "paid"):
        raise invalid_request(
            f"Credit notes can only be issued for open, uncollectible or paid invoices; invoice "
            f"{invoice['id']} is {invoice['status']}.",
            param="invoice",
        )
    lines = _note_lines(call, invoice, params.get("lines", []))
    lines_total = sum(line["amount"] for line in lines)
    if "amount" in params:
        total = params["amount"]
        if lines and total != lines_total:
            raise invalid_request(
                f"The amount ({total}) must equal the sum of the lines ({lines_total}).",
                param="amount",
            )
    elif lines:
        total = lines_total
    else:
        raise parameter_missing("amount")
    if total <= 0:
        raise invalid_request("The credit note amount must be positive.", param="amount")

    post_payment = invoice["status"] == "paid"
    refund_amount = params.get("refund_amount", 0)
    out_of_band_amount = params.get("out_of_band_amount", 0)
    if post_payment:
        available = invoice["amount_paid"] - invoice["post_payment_credit_notes_amount"]
        credit_amount = params.get("credit_amount", total - refund_amount - out_of_band_amount)
        if refund_amount + credit_amount + out_of_band_amount != total:
            raise invalid_request(
                f"The sum of refund_amount, credit_amount and out_of_band_amount "
                f"({refund_amount + credit_amount + out_of_band_amount}) must equal the credit "
                f"note total ({total}).",
                param="refund_amount",
            )
        if min(refund_amount, credit_amount, out_of_band_amount) < 0:
            raise invalid_request("Credit note amounts cannot be negative.", param="amount")
    else:
        available = invoice["amount_remaining"]
        credit_amount = 0
        for name in ("refund_amount", "credit_amount", "out_of_band_amount"):
            if name in params:
                raise invalid_request(
                    f"{name} can only be set on credit notes for paid invoices; invoice "
                    f"{invoice['id']} is {invoice['status']}.",
                    param=name,
                )
    if total > available:
        raise invalid_request(
            f"The credit note total ({total}) is greater than the amount that can still be "
            f"credited on invoice {invoice['id']} ({available}).",
            param="amount",
        )

    note_id = new_id("cn")
    count = len(call.store.children("credit_note", invoice["id"]))
    refunds = []
    if refund_amount:
        charge_id = _invoice_charge(call, invoice)
        refund = refund_charge(
            call,
            call.load("charge", charge_id, param="invoice"),
            amount=refund_amount,
            reason=_REFUND_REASONS.get(params.get("reason", "")),
            metadata={},
        )
        refunds.append(
            {
                "amount_refunded": refund_amount,
                "refund": refund["id"],
                "payment_record_refund": None,
                "type": "refund",
            }
        )
    balance_transaction = None
    if credit_amount:
        customer = call.load("customer", invoice["customer"], param="customer")
        customer["balance"] -= credit_amount
        call.store.save(customer)
        balance_transaction = new_id("cbtxn")

    note = build(
        "credit_note",
        {
            "id": note_id,
            "amount": total,
            "amount_shipping": 0,
            "created": call.now,
            "currency": invoice["currency"],
            "customer": invoice["customer"],
            "customer_balance_transaction": balance_transaction,
            "discount_amount": 0,
            "effective_at": params.get("effective_at", call.now),
            "invoice": invoice["id"],
            "lines": list_object(lines, f"/v1/credit_notes/{note_id}/lines"),
            "memo": params.get("memo"),
            "metadata": metadata_param(params),
            "number": f"{invoice['number']}-CN-{count + 1:02d}",
            "out_of_band_amount": out_of_band_amount or None,
            "pdf": f"{call.public_base}/credit_notes/{note_id}/pdf",
            "refunds": refunds,
            "status": "issued",
            "subtotal": total,
            "subtotal_excluding_tax": total,
            "total": total,
            "total_excluding_tax": total,
            "type": "post_payment" if post_payment else "pre_payment",
            "post_payment_amount": total if post_payment else 0,
            "pre_payment_amount": 0 if post_payment else total,
            "reason": params.get("reason"),
            "customer_account": None,
        },
    )
    call.store.insert(note, parent=invoice["id"])

    before = snapshot(invoice)
    if post_payment:
        invoice["post_payment_credit_notes_amount"] += total
    else:
        invoice["pre_payment_credit_notes_amount"] += total
    recompute_totals(invoice)
    call.emit("credit_note.created", note)
    call.emit("invoice.updated", invoice, previous=before)
    if not post_payment and invoice["amount_remaining"] == 0:
        mark_paid(call, invoice, with_payment_event=False)
    call.store.save(invoice)
    return reply(call, note, params)


def _invoice_charge(call: Call, invoice: dict[str, Any]) -> str:
    payment_intent_id = invoice["_internal"].get("payment_intent")
    payment_intent = (
        None if payment_intent_id is None else call.load("payment_intent", payment_intent_id)
    )
    if payment_intent is None or payment_intent["status"] != "succeeded":
        raise invalid_request(
            f"Invoice {invoice['id']} was not paid by a charge, so nothing can be refunded; use "
            "credit_amount or out_of_band_amount.",
            param="refund_amount",
        )
    return str(payment_intent["latest_charge"])


def retrieve_credit_note(call: Call, params: Params, credit_note_id: str) -> Outcome:
    note = call.load("credit_note", credit_note_id)
    return reply(call, note, params)
