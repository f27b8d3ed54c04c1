"""What an endpoint handler works with: the call being executed, lookups, lists and ``expand``.

A handler receives a :class:`Call` (the request's time, id and idempotency key, the store inside
the request's transaction) and its validated parameters, and returns an :data:`Outcome`: the
object to answer with, or a :class:`StripeError` *returned* (not raised) when the request failed
but what it wrote must stay, as with a declined card (the charge, the failed PaymentIntent and
the invoice's attempt count are real). A raised :class:`StripeError` undoes the handler's writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stripe_emulator.errors import StripeError, invalid_request, parameter_missing, resource_missing
from stripe_emulator.params import EMPTY
from stripe_emulator.store import CreatedFilter, Page, Store
from stripe_emulator.templates import list_object, public

if TYPE_CHECKING:
    from stripe_emulator.events import EventRecorder

Params = dict[str, Any]
Outcome = dict[str, Any] | StripeError
Handler = Callable[..., Outcome]

# What Stripe calls each object type in "No such …" messages.
KIND_NAMES = {
    "customer": "customer",
    "payment_method": "PaymentMethod",
    "invoice": "invoice",
    "invoiceitem": "invoiceitem",
    "payment_intent": "payment_intent",
    "charge": "charge",
    "invoice_payment": "invoice_payment",
    "credit_note": "credit note",
    "refund": "refund",
    "event": "event",
    "balance_transaction": "balance transaction",
    "dispute": "dispute",
}

# Fields holding the id of another object that ``expand`` may replace by the object.
EXPANDABLE_FIELDS = frozenset(
    {
        "balance_transaction",
        "charge",
        "customer",
        "default_payment_method",
        "invoice",
        "latest_charge",
        "payment_intent",
        "payment_method",
    }
)
MAX_EXPAND_DEPTH = 4


@dataclass
class Call:
    """One API request being executed, inside the store's transaction."""

    store: Store
    recorder: EventRecorder
    now: int
    request_id: str | None  # None for what happens outside an API request (a dispute opening)
    idempotency_key: str | None
    public_base: str

    def emit(
        self, event_type: str, obj: dict[str, Any], previous: dict[str, Any] | None = None
    ) -> None:
        """Record an event; ``previous`` is the object before the change, if it changed."""
        self.recorder.record(
            event_type,
            obj,
            now=self.now,
            request_id=self.request_id,
            idempotency_key=self.idempotency_key,
            previous=previous,
        )

    def load(self, object_type: str, object_id: str, *, param: str = "id") -> dict[str, Any]:
        """The stored object of that type, or Stripe's 404 ``resource_missing``."""
        obj = self.store.get(object_id)
        if obj is None or obj.get("object") != object_type:
            raise resource_missing(KIND_NAMES[object_type], object_id, param=param)
        return obj


def list_window(params: Params) -> dict[str, Any]:
    """The paging parameters of a list call, checked: ``created``, ``limit`` (1 to 100, default
    10), ``starting_after`` and ``ending_before``, as keyword arguments of the store's pages."""
    limit = int(params.get("limit", 10))
    if not 1 <= limit <= 100:
        raise invalid_request(
            f"Invalid limit: must be between 1 and 100 (got {limit})", param="limit"
        )
    return {
        "created": CreatedFilter.from_param(params.get("created")),
        "limit": limit,
        "starting_after": params.get("starting_after"),
        "ending_before": params.get("ending_before"),
    }


def page_object(page: Page, url: str) -> dict[str, Any]:
    return list_object(page.data, url, has_more=page.has_more)


def reply(call: Call, obj: dict[str, Any], params: Params) -> dict[str, Any]:
    """The object as the answer to a call: public fields, with the call's ``expand[]`` applied."""
    return expand(call, public(obj), params.get("expand", []))


def expand(call: Call, obj: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """Apply Stripe's ``expand[]``: replace ids by objects along each dotted path.

    ``payments`` on an invoice is an includable field: expanding it adds the invoice's
    InvoicePayments as a list. In a list response, paths start with ``data.``.
    """
    for path in paths:
        parts = path.split(".")
        if len(parts) > MAX_EXPAND_DEPTH:
            raise invalid_request(
                f"You cannot expand more than {MAX_EXPAND_DEPTH} levels of a property: {path}",
                param="expand",
            )
        _expand_path(call, obj, parts, path)
    return obj


def _expand_path(call: Call, target: Any, parts: list[str], path: str) -> None:
    if not isinstance(target, dict):
        return
    head, rest = parts[0], parts[1:]
    if target.get("object") == "list" and head == "data":
        for item in target["data"]:
            if rest:
                _expand_path(call, item, rest, path)
        return
    if head == "payments" and target.get("object") == "invoice":
        if not isinstance(target.get("payments"), dict):
            payments = call.store.children("invoice_payment", target["id"])
            target["payments"] = list_object(
                payments, f"/v1/invoice_payments?invoice={target['id']}"
            )
    elif head in EXPANDABLE_FIELDS and isinstance(target.get(head), str):
        found = call.store.get(target[head])
        if found is not None:
            target[head] = public(found)
    elif not isinstance(target.get(head), dict | None) or head not in target:
        raise invalid_request(f"This property cannot be expanded ({path}).", param="expand")
    if rest:
        _expand_path(call, target[head], rest, path)


def metadata_param(params: Params) -> dict[str, str]:
    """The ``metadata`` of a create call (``metadata=""`` means none)."""
    metadata = params.get("metadata", {})
    return {} if metadata is EMPTY else {k: v for k, v in metadata.items() if v != ""}


def require(params: Params, name: str) -> Any:
    """A parameter the SDK types leave optional but this call needs (Stripe's rule)."""
    if name not in params:
        raise parameter_missing(name)
    return params[name]
