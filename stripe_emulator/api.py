"""The ``/v1`` API: the route table and the pipeline every request goes through.

Pipeline, in Stripe's order:

1. count the arrival (statistics);
2. authenticate: ``Authorization: Bearer sk_test_…`` (or HTTP Basic with the key as user) → 401;
3. admission: rate limit and injected faults (:mod:`stripe_emulator.faults`) → 429 / 500;
4. route: ``Unrecognized request URL`` → 404;
5. decode and validate the parameters against the SDK's params TypedDict for the endpoint
   (:mod:`stripe_emulator.params`), then refuse parameters Stripe accepts but the emulator does
   not act on (``parameter_not_emulated``);
6. idempotency (POST with ``Idempotency-Key``, :mod:`stripe_emulator.idempotency`): replay, 400
   on other parameters, 409 while in flight;
7. ``latency_ms``;
8. execute the handler in one transaction, saving the idempotent result with it.

Nothing is saved for idempotency when the request stops before step 8. Every response carries
``Request-Id`` and ``Stripe-Version``; a replay also ``Idempotent-Replayed: true`` and
``Original-Request``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import unquote

import stripe.params as sdk

from stripe_emulator import balance, credit_notes, customers, disputes, events, invoices, payments
from stripe_emulator.config import LiveSettings
from stripe_emulator.context import Call, Handler
from stripe_emulator.errors import StripeError, api_error
from stripe_emulator.events import API_VERSION, EventRecorder
from stripe_emulator.faults import Traffic
from stripe_emulator.idempotency import Claim, Idempotency, fingerprint
from stripe_emulator.params import check_emulated, decode_form, validate
from stripe_emulator.store import IdempotentResult, Store
from stripe_emulator.templates import new_id

log = logging.getLogger(__name__)
_R = TypeVar("_R")

JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-cache, no-store"}


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    params_class: type
    handler: Handler
    emulated: frozenset[str]


def _route(
    method: str, path: str, params_class: type, handler: Handler, emulated: frozenset[str]
) -> Route:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
    return Route(method, re.compile(f"^{regex}$"), params_class, handler, emulated)


EXPAND = frozenset({"expand"})

ROUTES: tuple[Route, ...] = (
    _route(
        "POST",
        "/v1/customers",
        sdk.CustomerCreateParams,
        customers.create_customer,
        customers.CUSTOMER_CREATE_EMULATED,
    ),
    _route(
        "GET", "/v1/customers/{id}", sdk.CustomerRetrieveParams, customers.retrieve_customer, EXPAND
    ),
    _route(
        "POST",
        "/v1/customers/{id}",
        sdk.CustomerUpdateParams,
        customers.update_customer,
        customers.CUSTOMER_UPDATE_EMULATED,
    ),
    _route(
        "POST",
        "/v1/payment_methods/{id}/attach",
        sdk.PaymentMethodAttachParams,
        customers.attach_payment_method,
        customers.PAYMENT_METHOD_ATTACH_EMULATED,
    ),
    _route(
        "GET",
        "/v1/payment_methods/{id}",
        sdk.PaymentMethodRetrieveParams,
        customers.retrieve_payment_method,
        EXPAND,
    ),
    _route(
        "POST",
        "/v1/invoices",
        sdk.InvoiceCreateParams,
        invoices.create_invoice,
        invoices.INVOICE_CREATE_EMULATED,
    ),
    _route(
        "GET",
        "/v1/invoices",
        sdk.InvoiceListParams,
        invoices.list_invoices,
        invoices.INVOICE_LIST_EMULATED,
    ),
    _route(
        "GET", "/v1/invoices/{id}", sdk.InvoiceRetrieveParams, invoices.retrieve_invoice, EXPAND
    ),
    _route(
        "POST",
        "/v1/invoices/{id}",
        sdk.InvoiceUpdateParams,
        invoices.update_invoice,
        invoices.INVOICE_UPDATE_EMULATED,
    ),
    _route(
        "POST",
        "/v1/invoices/{id}/finalize",
        sdk.InvoiceFinalizeInvoiceParams,
        invoices.finalize_invoice,
        invoices.INVOICE_FINALIZE_EMULATED,
    ),
    _route(
        "POST",
        "/v1/invoices/{id}/pay",
        sdk.InvoicePayParams,
        invoices.pay_invoice,
        invoices.INVOICE_PAY_EMULATED,
    ),
    _route(
        "POST",
        "/v1/invoices/{id}/send",
        sdk.InvoiceSendInvoiceParams,
        invoices.send_invoice,
        EXPAND,
    ),
    _route(
        "POST",
        "/v1/invoices/{id}/void",
        sdk.InvoiceVoidInvoiceParams,
        invoices.void_invoice,
        EXPAND,
    ),
    _route(
        "POST",
        "/v1/invoices/{id}/mark_uncollectible",
        sdk.InvoiceMarkUncollectibleParams,
        invoices.mark_uncollectible,
        EXPAND,
    ),
    _route(
        "POST",
        "/v1/invoiceitems",
        sdk.InvoiceItemCreateParams,
        invoices.create_invoice_item,
        invoices.INVOICE_ITEM_CREATE_EMULATED,
    ),
    _route(
        "GET",
        "/v1/invoiceitems/{id}",
        sdk.InvoiceItemRetrieveParams,
        invoices.retrieve_invoice_item,
        EXPAND,
    ),
    _route(
        "POST",
        "/v1/credit_notes",
        sdk.CreditNoteCreateParams,
        credit_notes.create_credit_note,
        credit_notes.CREDIT_NOTE_CREATE_EMULATED,
    ),
    _route(
        "GET",
        "/v1/credit_notes/{id}",
        sdk.CreditNoteRetrieveParams,
        credit_notes.retrieve_credit_note,
        EXPAND,
    ),
    _route(
        "POST",
        "/v1/refunds",
        sdk.RefundCreateParams,
        payments.create_refund,
        payments.REFUND_CREATE_EMULATED,
    ),
    _route("GET", "/v1/refunds/{id}", sdk.RefundRetrieveParams, payments.retrieve_refund, EXPAND),
    _route("GET", "/v1/charges/{id}", sdk.ChargeRetrieveParams, payments.retrieve_charge, EXPAND),
    _route(
        "GET",
        "/v1/balance_transactions/{id}",
        sdk.BalanceTransactionRetrieveParams,
        balance.retrieve_balance_transaction,
        EXPAND,
    ),
    _route(
        "GET", "/v1/disputes/{id}", sdk.DisputeRetrieveParams, disputes.retrieve_dispute, EXPAND
    ),
    _route(
        "GET",
        "/v1/payment_intents/{id}",
        sdk.PaymentIntentRetrieveParams,
        payments.retrieve_payment_intent,
        EXPAND,
    ),
    _route(
        "GET",
        "/v1/invoice_payments/{id}",
        sdk.InvoicePaymentRetrieveParams,
        payments.retrieve_invoice_payment,
        EXPAND,
    ),
    _route(
        "GET", "/v1/events", sdk.EventListParams, events.list_events, events.EVENT_LIST_EMULATED
    ),
    _route("GET", "/v1/events/{id}", sdk.EventRetrieveParams, events.retrieve_event, EXPAND),
)


@dataclass(frozen=True)
class Request:
    """One HTTP request to ``/v1``; ``headers`` has lower-cased names."""

    method: str
    path: str
    query: str
    body: bytes
    headers: Mapping[str, str]
    public_base: str  # scheme and host the client used, for URLs in responses

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key") if self.method == "POST" else None


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class StripeApi:
    """Answers ``/v1`` requests; transport-independent (see :mod:`stripe_emulator.server`)."""

    def __init__(
        self,
        *,
        store: Store,
        settings: LiveSettings,
        traffic: Traffic,
        idempotency: Idempotency,
        recorder: EventRecorder,
        on_commit: Callable[[], None],
    ) -> None:
        self._store = store
        self._settings = settings
        self._traffic = traffic
        self._idempotency = idempotency
        self._recorder = recorder
        self._on_commit = on_commit

    def handle(self, request: Request) -> Response:
        """Answer one ``/v1`` request."""
        request_id = new_id("req", 14)
        self._traffic.arrived(time.time())
        headers = {
            **JSON_HEADERS,
            "Request-Id": request_id,
            "Stripe-Version": request.headers.get("stripe-version") or API_VERSION,
        }
        if request.idempotency_key:
            headers["Idempotency-Key"] = request.idempotency_key
        try:
            response = self._answer(request, request_id, headers)
        except StripeError as rejection:
            # Rejected before executing (what happens while executing is _execute's answer).
            self._pause()
            response = Response(rejection.status, _encode(rejection.body()), headers)
        except Exception:
            log.exception("%s %s failed before executing", request.method, request.path)
            failure = api_error("The Stripe emulator failed on this request (see its log).")
            response = Response(500, _encode(failure.body()), headers)
        self._traffic.answered(response.status)
        return response

    def _answer(self, request: Request, request_id: str, headers: dict[str, str]) -> Response:
        api_key = _authenticate(request.headers)
        fault = self._traffic.admit(time.time())
        if fault is not None:
            raise fault
        route, ids = _match(request.method, request.path)
        raw = decode_form(request.query)
        if request.method == "POST":
            raw.update(decode_form(request.body.decode("utf-8", "replace")))
        params = validate(route.params_class, raw)
        check_emulated(params, route.emulated)
        claim = None
        if request.idempotency_key:
            begun = self._idempotency.begin(
                api_key, request.idempotency_key, fingerprint(request.method, request.path, raw)
            )
            if isinstance(begun, IdempotentResult):
                self._pause()
                replayed = {
                    **headers,
                    "Idempotent-Replayed": "true",
                    "Original-Request": begun.request_id,
                }
                return Response(begun.status, begun.body, replayed)
            claim = begun
        self._pause()
        try:
            status, payload = self._execute(route, params, ids, request, request_id, claim)
        finally:
            if claim is not None:
                self._idempotency.release(claim)
        return Response(status, payload, headers)

    def perform(self, operation: Callable[[Call], _R]) -> _R:
        """Run a control-API operation that changes Stripe objects (e.g. opening a dispute) as one
        transaction with the events it emits, outside any API request; webhooks follow."""
        with self._store.transaction():
            call = Call(
                store=self._store,
                recorder=self._recorder,
                now=int(time.time()),
                request_id=None,
                idempotency_key=None,
                public_base="",
            )
            result = operation(call)
        self._on_commit()
        return result

    def _pause(self) -> None:
        latency_ms = self._settings.current.latency_ms
        if latency_ms:
            time.sleep(latency_ms / 1000)

    def _execute(
        self,
        route: Route,
        params: dict[str, Any],
        ids: list[str],
        request: Request,
        request_id: str,
        claim: Claim | None,
    ) -> tuple[int, bytes]:
        """Run the handler in one transaction with the idempotent result; always answers."""
        with self._store.transaction():
            call = Call(
                store=self._store,
                recorder=self._recorder,
                now=int(time.time()),
                request_id=request_id,
                idempotency_key=request.idempotency_key,
                public_base=request.public_base,
            )
            try:
                with self._store.savepoint():
                    outcome = route.handler(call, params, *ids)
            except StripeError as error:
                outcome = error
            except Exception:
                log.exception("%s %s failed", route.method, route.pattern.pattern)
                outcome = api_error(
                    "The Stripe emulator failed while executing this request (see its log)."
                )
            if isinstance(outcome, StripeError):
                status, payload = outcome.status, _encode(outcome.body())
            else:
                status, payload = 200, _encode(outcome)
            if claim is not None:
                self._idempotency.save(claim, status=status, body=payload, request_id=request_id)
        self._on_commit()
        return status, payload


def _encode(body: Any) -> bytes:
    return json.dumps(body, indent=2).encode()


def _match(method: str, path: str) -> tuple[Route, list[str]]:
    for route in ROUTES:
        if route.method != method:
            continue
        match = route.pattern.match(path)
        if match is not None:
            return route, [unquote(value) for value in match.groups()]
    raise StripeError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we "
        "can help at https://support.stripe.com/.",
    )


def _mask(key: str) -> str:
    return key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else "*" * len(key)


def _authenticate(headers: Mapping[str, str]) -> str:
    """The API key of the request: a test-mode secret key (``sk_test_…``), or 401."""
    authorization = headers.get("authorization", "").strip()
    key = ""
    if authorization.lower().startswith("bearer "):
        key = authorization[7:].strip()
    elif authorization.lower().startswith("basic "):
        try:
            key = base64.b64decode(authorization[6:].strip()).decode().split(":", 1)[0]
        except (binascii.Error, UnicodeDecodeError):
            key = ""
    if not authorization:
        raise StripeError(
            401,
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we "
            "can help at https://support.stripe.com/.",
        )
    if not key.startswith("sk_test_") or len(key) <= len("sk_test_"):
        raise StripeError(
            401,
            f"Invalid API Key provided: {_mask(key)}. The Stripe emulator accepts test-mode "
            "secret keys (sk_test_...) only.",
        )
    if headers.get("stripe-account"):
        raise StripeError(
            400,
            "The Stripe emulator does not emulate Connect: remove the Stripe-Account header.",
            param="Stripe-Account",
        )
    return key
