"""The one module that talks to Stripe (and the only one that imports `stripe`).

Every call goes through `StripeClient` with the SDK's typed params, through the shared
`RequestThrottle`, with the SDK's own retries off (the outbox owns retries). Every mutating call
takes an idempotency key from the caller, derived from local ids and stored before the first
attempt. Errors come out as three kinds: `StripeTransientError` (429, 5xx, network: try again
later with the same key), `StripeRequestError` (Stripe refused the request: a bug or a state
clash, retrying will not help) and, for payments only, a `PaymentOutcome` with the decline.

Results are small typed snapshots (`StripeInvoiceSnapshot`, …) built from plain dicts, so the
same parser reads API responses and webhook payloads.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import stripe
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from billing.stripe_throttle import RequestThrottle, ThrottleUnavailableError

if TYPE_CHECKING:
    from stripe.params import (
        CreditNoteCreateParams,
        CustomerCreateParams,
        CustomerUpdateParams,
        EventListParams,
        InvoiceCreateParams,
        InvoiceItemCreateParams,
        InvoiceListParams,
        InvoicePayParams,
        RefundCreateParams,
    )

_T = TypeVar("_T")
logger = logging.getLogger(__name__)

LIVE_KEY_PREFIXES = ("sk_live_", "rk_live_")
CreditNoteReason = Literal["duplicate", "fraudulent", "order_change", "product_unsatisfactory"]


class StripeGatewayError(Exception):
    def __init__(self, message: str, *, code: str = "", http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status


class StripeTransientError(StripeGatewayError):
    """Rate limited, Stripe-side error or network trouble: retry later with the same key."""


class StripeRequestError(StripeGatewayError):
    """Stripe refused the request (invalid parameters, wrong state, idempotency clash)."""


class WebhookSignatureInvalid(Exception):  # noqa: N818  (reads as a verdict)
    """The payload is not a Stripe event signed with our secret within the tolerance."""


def _to_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, Mapping):
        return dict(obj)
    return dict(obj.to_dict())


def _timestamp(value: int | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(value, tz=dt.UTC)


def period_bounds(start: dt.date, end: dt.date) -> tuple[int, int]:
    """A service period of whole dates (`end` included) as Stripe's period: unix seconds from
    midnight starting `start` to midnight ending `end`, in the business time zone."""
    first = timezone.make_aware(dt.datetime.combine(start, dt.time.min))
    after_last = timezone.make_aware(dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min))
    return int(first.timestamp()), int(after_last.timestamp())


@dataclass(frozen=True)
class StripeInvoiceSnapshot:
    id: str
    status: str
    customer_id: str
    currency: str
    total: int
    amount_due: int
    amount_paid: int
    attempt_count: int
    number: str
    hosted_invoice_url: str
    metadata: dict[str, str]
    finalized_at: dt.datetime | None
    paid_at: dt.datetime | None
    payment_intent_ids: tuple[str, ...]
    pre_payment_credit_notes_amount: int = 0  # what credit notes took off amount_due

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StripeInvoiceSnapshot:
        transitions = data.get("status_transitions") or {}
        payments = data.get("payments")
        payment_intent_ids: tuple[str, ...] = ()
        if isinstance(payments, Mapping):
            payment_intent_ids = tuple(
                str(row["payment"]["payment_intent"])
                for row in payments.get("data", [])
                if (row.get("payment") or {}).get("payment_intent")
            )
        customer = data["customer"]
        return cls(
            id=str(data["id"]),
            status=str(data["status"]),
            customer_id=str(customer["id"] if isinstance(customer, Mapping) else customer),
            currency=str(data["currency"]),
            total=int(data["total"]),
            amount_due=int(data["amount_due"]),
            amount_paid=int(data["amount_paid"]),
            attempt_count=int(data.get("attempt_count") or 0),
            number=str(data.get("number") or ""),
            hosted_invoice_url=str(data.get("hosted_invoice_url") or ""),
            metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
            finalized_at=_timestamp(transitions.get("finalized_at")),
            paid_at=_timestamp(transitions.get("paid_at")),
            payment_intent_ids=payment_intent_ids,
            pre_payment_credit_notes_amount=int(data.get("pre_payment_credit_notes_amount") or 0),
        )


@dataclass(frozen=True)
class PaymentMethodSnapshot:
    id: str
    brand: str
    last4: str


@dataclass(frozen=True)
class PaymentOutcome:
    """What happened when an invoice was charged. A decline is an outcome, not an error."""

    succeeded: bool
    invoice: StripeInvoiceSnapshot | None  # the invoice after a successful payment
    payment_intent_id: str
    charge_id: str
    failure_code: str  # e.g. card_declined
    decline_code: str  # e.g. insufficient_funds
    failure_message: str


@dataclass(frozen=True)
class RefundSnapshot:
    id: str
    status: str
    amount: int


@dataclass(frozen=True)
class ChargeFeeSnapshot:
    """A succeeded charge and what Stripe kept of it (its balance transaction's fee)."""

    charge_id: str
    balance_transaction_id: str
    amount: int
    fee: int
    net: int
    currency: str


def _id_of(value: Any) -> str:
    """The id of a field that may be an id or an expanded object (or null: "")."""
    if isinstance(value, Mapping):
        return str(value.get("id") or "")
    return str(value or "")


@dataclass(frozen=True)
class StripeDisputeSnapshot:
    id: str
    charge_id: str
    payment_intent_id: str
    amount: int
    currency: str
    status: str
    reason: str
    created: dt.datetime

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StripeDisputeSnapshot:
        return cls(
            id=str(data["id"]),
            charge_id=_id_of(data["charge"]),
            payment_intent_id=_id_of(data.get("payment_intent")),
            amount=int(data["amount"]),
            currency=str(data["currency"]),
            status=str(data["status"]),
            reason=str(data.get("reason") or ""),
            created=dt.datetime.fromtimestamp(int(data["created"]), tz=dt.UTC),
        )


@dataclass(frozen=True)
class CreditNoteSnapshot:
    id: str
    number: str
    amount: int
    status: str


class StripeGateway:
    def __init__(
        self,
        *,
        api_key: str,
        api_base: str,
        timeout_seconds: float,
        throttle: RequestThrottle | None,
        allow_live_keys: bool = False,
    ) -> None:
        if api_key.startswith(LIVE_KEY_PREFIXES) and not allow_live_keys:
            raise ImproperlyConfigured(
                "A live Stripe key is configured but STRIPE_ALLOW_LIVE_KEYS is off; "
                "use a test key (sk_test_…) or turn live keys on explicitly."
            )
        self.throttle = throttle
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base},
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=timeout_seconds),
        )

    # --- plumbing ------------------------------------------------------------------------------

    def _call(self, request: Callable[[], _T], *, card_errors_are_outcomes: bool = False) -> _T:
        if self.throttle is not None:
            try:
                self.throttle.acquire()
            except ThrottleUnavailableError as exc:  # not sent: retry the step later
                raise StripeTransientError(str(exc), code="throttle_unavailable") from exc
        try:
            return request()
        except (stripe.RateLimitError, stripe.APIConnectionError) as exc:
            raise StripeTransientError(
                str(exc.user_message or exc), code=exc.code or "", http_status=exc.http_status
            ) from exc
        except stripe.IdempotencyError as exc:
            # 409: the same key is still being executed by another request; try again later.
            error = StripeTransientError if exc.http_status == 409 else StripeRequestError
            raise error(
                str(exc.user_message or exc), code="idempotency_error", http_status=exc.http_status
            ) from exc
        except stripe.APIError as exc:
            raise StripeTransientError(
                str(exc.user_message or exc), code=exc.code or "", http_status=exc.http_status
            ) from exc
        except (stripe.AuthenticationError, stripe.PermissionError) as exc:
            # A wrong or revoked key: every command would fail; keep them and alert instead.
            logger.error("Stripe refused our API key: %s", exc.user_message or exc)
            raise StripeTransientError(
                str(exc.user_message or exc), code=exc.code or "", http_status=exc.http_status
            ) from exc
        except stripe.StripeError as exc:
            if exc.http_status is not None and exc.http_status >= 500:
                raise StripeTransientError(
                    str(exc.user_message or exc), code=exc.code or "", http_status=exc.http_status
                ) from exc
            if isinstance(exc, stripe.CardError) and card_errors_are_outcomes:
                raise  # invoice_pay turns these into a PaymentOutcome
            raise StripeRequestError(
                str(exc.user_message or exc), code=exc.code or "", http_status=exc.http_status
            ) from exc

    @staticmethod
    def _options(idempotency_key: str) -> stripe.RequestOptions:
        return {"idempotency_key": idempotency_key}

    # --- customers and payment methods --------------------------------------------------------

    def customer_create(
        self, *, email: str, name: str, metadata: dict[str, str], idempotency_key: str
    ) -> str:
        params: CustomerCreateParams = {"email": email, "name": name, "metadata": metadata}
        customer = self._call(
            lambda: self._client.v1.customers.create(params, self._options(idempotency_key))
        )
        return str(customer.id)

    def customer_update(
        self,
        *,
        customer_id: str,
        email: str,
        name: str,
        default_payment_method_id: str | None,
        idempotency_key: str,
    ) -> None:
        params: CustomerUpdateParams = {"email": email, "name": name}
        if default_payment_method_id:
            params["invoice_settings"] = {"default_payment_method": default_payment_method_id}
        self._call(
            lambda: self._client.v1.customers.update(
                customer_id, params, self._options(idempotency_key)
            )
        )

    def payment_method_attach(
        self, *, payment_method_id: str, customer_id: str, idempotency_key: str
    ) -> PaymentMethodSnapshot:
        """Attach a payment method (a Stripe id from the client, e.g. `pm_card_visa` in test
        mode) to the customer. Returns the attached method's own id."""
        method = self._call(
            lambda: self._client.v1.payment_methods.attach(
                payment_method_id, {"customer": customer_id}, self._options(idempotency_key)
            )
        )
        card = _to_dict(method).get("card") or {}
        return PaymentMethodSnapshot(
            id=str(method.id), brand=str(card.get("brand", "")), last4=str(card.get("last4", ""))
        )

    # --- invoices ------------------------------------------------------------------------------

    def invoice_create(
        self,
        *,
        customer_id: str,
        currency: str,
        collection_method: str,
        days_until_due: int | None,
        description: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> StripeInvoiceSnapshot:
        params: InvoiceCreateParams = {
            "customer": customer_id,
            "currency": currency,
            "auto_advance": False,
            "pending_invoice_items_behavior": "exclude",
            "metadata": metadata,
        }
        if description:
            params["description"] = description
        if collection_method == "send_invoice":
            params["collection_method"] = "send_invoice"
            params["days_until_due"] = days_until_due or 0
        else:
            params["collection_method"] = "charge_automatically"
        invoice = self._call(
            lambda: self._client.v1.invoices.create(params, self._options(idempotency_key))
        )
        return StripeInvoiceSnapshot.from_dict(_to_dict(invoice))

    def invoice_item_add(
        self,
        *,
        customer_id: str,
        invoice_id: str,
        amount_cents: int,
        currency: str,
        description: str,
        period_start: dt.date,
        period_end: dt.date,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> str:
        period_first, period_after_last = period_bounds(period_start, period_end)
        params: InvoiceItemCreateParams = {
            "customer": customer_id,
            "invoice": invoice_id,
            "amount": amount_cents,
            "currency": currency,
            "description": description,
            "period": {"start": period_first, "end": period_after_last},
            "metadata": metadata,
        }
        item = self._call(
            lambda: self._client.v1.invoice_items.create(params, self._options(idempotency_key))
        )
        return str(item.id)

    def invoice_finalize(self, *, invoice_id: str, idempotency_key: str) -> StripeInvoiceSnapshot:
        invoice = self._call(
            lambda: self._client.v1.invoices.finalize_invoice(
                invoice_id, {"auto_advance": False}, self._options(idempotency_key)
            )
        )
        return StripeInvoiceSnapshot.from_dict(_to_dict(invoice))

    def invoice_pay(
        self, *, invoice_id: str, idempotency_key: str, payment_method_id: str | None = None
    ) -> PaymentOutcome:
        params: InvoicePayParams = {"expand": ["payments"]}
        if payment_method_id:
            params["payment_method"] = payment_method_id
        try:
            invoice = self._call(
                lambda: self._client.v1.invoices.pay(
                    invoice_id, params, self._options(idempotency_key)
                ),
                card_errors_are_outcomes=True,
            )
        except stripe.CardError as exc:
            error = exc.error
            intent = getattr(error, "payment_intent", None) if error else None
            return PaymentOutcome(
                succeeded=False,
                invoice=None,
                payment_intent_id=str(intent.get("id", "")) if isinstance(intent, Mapping) else "",
                charge_id=str(getattr(error, "charge", "") or ""),
                failure_code=str(exc.code or "card_declined"),
                decline_code=str(getattr(error, "decline_code", "") or ""),
                failure_message=str(exc.user_message or "The card was declined."),
            )
        snapshot = StripeInvoiceSnapshot.from_dict(_to_dict(invoice))
        return PaymentOutcome(
            succeeded=True,
            invoice=snapshot,
            payment_intent_id=snapshot.payment_intent_ids[0] if snapshot.payment_intent_ids else "",
            charge_id="",
            failure_code="",
            decline_code="",
            failure_message="",
        )

    def invoice_send(self, *, invoice_id: str, idempotency_key: str) -> StripeInvoiceSnapshot:
        invoice = self._call(
            lambda: self._client.v1.invoices.send_invoice(
                invoice_id, None, self._options(idempotency_key)
            )
        )
        return StripeInvoiceSnapshot.from_dict(_to_dict(invoice))

    def invoice_void(self, *, invoice_id: str, idempotency_key: str) -> StripeInvoiceSnapshot:
        invoice = self._call(
            lambda: self._client.v1.invoices.void_invoice(
                invoice_id, None, self._options(idempotency_key)
            )
        )
        return StripeInvoiceSnapshot.from_dict(_to_dict(invoice))

    def invoice_mark_uncollectible(
        self, *, invoice_id: str, idempotency_key: str
    ) -> StripeInvoiceSnapshot:
        invoice = self._call(
            lambda: self._client.v1.invoices.mark_uncollectible(
                invoice_id, None, self._options(idempotency_key)
            )
        )
        return StripeInvoiceSnapshot.from_dict(_to_dict(invoice))

    def invoice_retrieve(self, *, invoice_id: str) -> StripeInvoiceSnapshot:
        invoice = self._call(
            lambda: self._client.v1.invoices.retrieve(invoice_id, {"expand": ["payments"]})
        )
        return StripeInvoiceSnapshot.from_dict(_to_dict(invoice))

    def invoices_list(
        self, *, created_gte: dt.datetime | None = None
    ) -> Iterator[StripeInvoiceSnapshot]:
        """Every invoice (created on or after `created_gte`), newest first, page by page."""
        params: InvoiceListParams = {"limit": 100}
        if created_gte is not None:
            params["created"] = {"gte": int(created_gte.timestamp())}
        while True:
            page = self._call(lambda: self._client.v1.invoices.list(params))
            rows = [_to_dict(row) for row in page.data]
            yield from (StripeInvoiceSnapshot.from_dict(row) for row in rows)
            if not page.has_more or not rows:
                return
            params["starting_after"] = str(rows[-1]["id"])

    # --- credit notes and refunds -------------------------------------------------------------

    def credit_note_create(
        self,
        *,
        invoice_id: str,
        amount_cents: int,
        reason: CreditNoteReason | None,
        memo: str,
        refund_amount_cents: int,
        idempotency_key: str,
        metadata: dict[str, str] | None = None,
    ) -> CreditNoteSnapshot:
        """A credit note for `amount_cents` of the invoice. On an open invoice it lowers the
        amount due; on a paid invoice, `refund_amount_cents` of it is refunded to the card, the
        rest credited."""
        params: CreditNoteCreateParams = {"invoice": invoice_id, "amount": amount_cents}
        if metadata:
            params["metadata"] = metadata
        if reason:
            params["reason"] = reason
        if memo:
            params["memo"] = memo
        if refund_amount_cents:
            params["refund_amount"] = refund_amount_cents
        note = self._call(
            lambda: self._client.v1.credit_notes.create(params, self._options(idempotency_key))
        )
        data = _to_dict(note)
        return CreditNoteSnapshot(
            id=str(data["id"]),
            number=str(data.get("number") or ""),
            amount=int(data["amount"]),
            status=str(data["status"]),
        )

    def refund_create(
        self,
        *,
        payment_intent_id: str,
        amount_cents: int,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> RefundSnapshot:
        params: RefundCreateParams = {
            "payment_intent": payment_intent_id,
            "amount": amount_cents,
            "metadata": metadata,
        }
        refund = self._call(
            lambda: self._client.v1.refunds.create(params, self._options(idempotency_key))
        )
        data = _to_dict(refund)
        return RefundSnapshot(
            id=str(data["id"]), status=str(data["status"]), amount=int(data["amount"])
        )

    def refund_retrieve(self, *, refund_id: str) -> RefundSnapshot:
        refund = self._call(lambda: self._client.v1.refunds.retrieve(refund_id))
        data = _to_dict(refund)
        return RefundSnapshot(
            id=str(data["id"]), status=str(data["status"]), amount=int(data["amount"])
        )

    # --- payments ----------------------------------------------------------------------------

    def payment_fee_retrieve(self, *, payment_intent_id: str) -> ChargeFeeSnapshot | None:
        """The latest charge of a PaymentIntent with its balance transaction (one request,
        expanded), or None while the charge has no balance transaction yet."""
        intent = self._call(
            lambda: self._client.v1.payment_intents.retrieve(
                payment_intent_id, {"expand": ["latest_charge.balance_transaction"]}
            )
        )
        charge = _to_dict(intent).get("latest_charge")
        if not isinstance(charge, Mapping) or charge.get("status") != "succeeded":
            return None
        transaction = charge.get("balance_transaction")
        if not isinstance(transaction, Mapping):
            return None
        return ChargeFeeSnapshot(
            charge_id=str(charge["id"]),
            balance_transaction_id=str(transaction["id"]),
            amount=int(transaction["amount"]),
            fee=int(transaction["fee"]),
            net=int(transaction["net"]),
            currency=str(transaction["currency"]),
        )

    def dispute_retrieve(self, *, dispute_id: str) -> StripeDisputeSnapshot:
        dispute = self._call(lambda: self._client.v1.disputes.retrieve(dispute_id))
        return StripeDisputeSnapshot.from_dict(_to_dict(dispute))

    # --- events and webhooks ------------------------------------------------------------------

    def events_list(
        self, *, limit: int = 100, starting_after: str | None = None
    ) -> list[dict[str, Any]]:
        params: EventListParams = {"limit": limit}
        if starting_after:
            params["starting_after"] = starting_after
        page = self._call(lambda: self._client.v1.events.list(params))
        return [_to_dict(row) for row in page.data]

    @staticmethod
    def webhook_event_verify(
        *, payload: bytes, signature_header: str | None, secret: str, tolerance_seconds: int = 300
    ) -> None:
        """Checks `Stripe-Signature` (t=…,v1=…) on the raw body, as Stripe's SDK does, and
        also refuses a timestamp further in the future than the tolerance (clock skew or a
        forged replay window), which the SDK lets through."""
        if not signature_header:
            raise WebhookSignatureInvalid("missing Stripe-Signature header")
        try:
            stripe.WebhookSignature.verify_header(
                payload.decode("utf-8"), signature_header, secret, tolerance_seconds
            )
        except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError) as exc:
            raise WebhookSignatureInvalid(str(exc)) from exc
        stamps = [p[2:] for p in signature_header.split(",") if p.startswith("t=")]
        latest_allowed = time.time() + tolerance_seconds
        if not stamps or not stamps[0].isdigit() or int(stamps[0]) > latest_allowed:
            raise WebhookSignatureInvalid("timestamp outside the tolerance zone")


@functools.lru_cache(maxsize=8)
def _gateway_for(
    api_key: str,
    api_base: str,
    timeout_seconds: float,
    allow_live_keys: bool,
    redis_url: str,
    requests_per_second: int,
) -> StripeGateway:
    throttle = (
        RequestThrottle(
            redis_url=redis_url,
            key=f"stripe-throttle:{hashlib.sha256(api_key.encode()).hexdigest()[:16]}",
            requests_per_second=requests_per_second,
        )
        if requests_per_second > 0
        else None
    )
    return StripeGateway(
        api_key=api_key,
        api_base=api_base,
        timeout_seconds=timeout_seconds,
        throttle=throttle,
        allow_live_keys=allow_live_keys,
    )


_gateway_lock = threading.Lock()


def stripe_gateway() -> StripeGateway:
    """The gateway for the current settings (one per distinct configuration, reused by every
    thread of the process)."""
    with _gateway_lock:
        return _gateway_for(
            settings.STRIPE_API_KEY,
            settings.STRIPE_API_BASE,
            float(settings.STRIPE_TIMEOUT_SECONDS),
            settings.STRIPE_ALLOW_LIVE_KEYS,
            settings.REDIS_URL,
            settings.STRIPE_MAX_REQUESTS_PER_SECOND,
        )
