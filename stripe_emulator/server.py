"""The HTTP server: Stripe's ``/v1`` API, the control API and the hosted invoice pages.

A :class:`ThreadingHTTPServer` (HTTP/1.1, keep-alive) answers each connection on its own
thread; the state behind it is one SQLite connection guarded by a lock
(:mod:`stripe_emulator.store`).

Control API (JSON, no authentication; not part of Stripe's API):

================================  ===========================================================
``GET  /_emulator/health``        ``{"ok": true}``
``GET  /_emulator/config``        the current settings (faults and webhooks)
``POST /_emulator/config``        change some settings: a JSON object of the fields to change
``GET  /_emulator/stats``         request counts, injected faults, rate limiting, arrivals
``POST /_emulator/stats/reset``   zero the statistics
``POST /_emulator/reset``         delete all objects, events, idempotent results, deliveries
``GET  /_emulator/webhooks``      the delivery log
``POST /_emulator/webhooks/resend`` deliver ``{"event_ids": [...]}`` now, in that order
``POST /_emulator/disputes``       open a dispute: ``{"charge", "amount"?, "reason"?}``
``POST /_emulator/disputes/<id>/close`` close it: ``{"status": "won" | "lost"}``
``GET  /_emulator/objects/<type>`` count and newest objects of a type (``invoices``, …),
                                  filtered by ``metadata_key``/``metadata_value``,
                                  ``customer``, ``status``; ``limit`` (default 100)
================================  ===========================================================
"""

from __future__ import annotations

import json
import logging
import secrets
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from stripe_emulator.api import Request, Response, StripeApi
from stripe_emulator.config import LiveSettings, ServerOptions, Settings, SettingsError
from stripe_emulator.disputes import close_dispute, open_dispute
from stripe_emulator.errors import StripeError
from stripe_emulator.events import EventRecorder
from stripe_emulator.faults import Randomness, Traffic
from stripe_emulator.hosted import credit_note_summary, html_page, invoice_summary, pdf_document
from stripe_emulator.idempotency import Idempotency
from stripe_emulator.store import Store
from stripe_emulator.templates import public
from stripe_emulator.webhooks import WebhookDispatcher, send_now

log = logging.getLogger(__name__)

GENERATED_SIGNING_META = "webhook_secret"
MAX_BODY_BYTES = 10 * 1024 * 1024

# Control API names of object types (plural, as in the /v1 paths).
OBJECT_TYPES = {
    "customers": "customer",
    "payment_methods": "payment_method",
    "invoices": "invoice",
    "invoiceitems": "invoiceitem",
    "payment_intents": "payment_intent",
    "charges": "charge",
    "invoice_payments": "invoice_payment",
    "credit_notes": "credit_note",
    "refunds": "refund",
    "disputes": "dispute",
    "balance_transactions": "balance_transaction",
}


class Emulator:
    """Everything one emulator process runs: state, API, webhooks and the HTTP server."""

    def __init__(self, options: ServerOptions, settings: Settings) -> None:
        self.options = options
        self.store = Store(options.data_dir)
        if not settings.webhook_secret:
            # Like `stripe listen`: a secret of its own, kept with the data so it stays the same.
            secret = self.store.meta(GENERATED_SIGNING_META) or f"whsec_{secrets.token_hex(24)}"
            self.store.set_meta(GENERATED_SIGNING_META, secret)
            settings = settings.updated({"webhook_secret": secret})
        self.settings = LiveSettings(settings)
        self.randomness = Randomness(settings.seed)
        self.traffic = Traffic(self.settings, self.randomness)
        self.dispatcher = WebhookDispatcher(
            self.store, self.settings, self.randomness, workers=options.webhook_workers
        )
        self.settings.subscribe(self._settings_changed)
        self.api = StripeApi(
            store=self.store,
            settings=self.settings,
            traffic=self.traffic,
            idempotency=Idempotency(self.store),
            recorder=EventRecorder(self.store, self.settings),
            on_commit=self.dispatcher.wake,
        )
        self.http = EmulatorHTTPServer((options.host, options.port), RequestHandler, self)

    def _settings_changed(self, old: Settings, new: Settings) -> None:
        if new.seed != old.seed:
            self.randomness.reseed(new.seed)
        self.dispatcher.wake()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.http.server_address[:2]
        return str(host), int(port)

    def serve_forever(self) -> None:
        self.dispatcher.start()
        host, port = self.address
        log.info(
            "Stripe emulator listening on http://%s:%d (data in %s)",
            host,
            port,
            self.options.data_dir,
        )
        try:
            self.http.serve_forever(poll_interval=0.2)
        finally:
            self.dispatcher.stop()
            self.http.server_close()
            self.store.close()

    def shutdown(self) -> None:
        """Stop serving (from another thread than the one in :meth:`serve_forever`)."""
        self.http.shutdown()

    # ---------------------------------------------------------------------------------------
    # Control API

    def control(self, method: str, path: str, query: str, body: bytes) -> tuple[int, Any]:
        if (method, path) == ("GET", "/_emulator/health"):
            return 200, {"ok": True}
        if (method, path) == ("GET", "/_emulator/config"):
            return 200, self.settings.current.as_dict()
        if (method, path) == ("POST", "/_emulator/config"):
            try:
                changes = json.loads(body or b"{}")
                if not isinstance(changes, dict):
                    raise SettingsError("The body must be a JSON object of settings to change.")
                return 200, self.settings.update(changes).as_dict()
            except (SettingsError, json.JSONDecodeError) as error:
                return 400, {"error": {"message": str(error)}}
        if (method, path) == ("GET", "/_emulator/stats"):
            return 200, self.traffic.stats()
        if (method, path) == ("POST", "/_emulator/stats/reset"):
            self.traffic.reset_stats()
            return 200, {"ok": True}
        if (method, path) == ("POST", "/_emulator/reset"):
            self.store.wipe()
            return 200, {"ok": True}
        if (method, path) == ("GET", "/_emulator/webhooks"):
            return 200, {"data": self.store.delivery_log()}
        if (method, path) == ("POST", "/_emulator/webhooks/resend"):
            return self._resend(body)
        if (method, path) == ("POST", "/_emulator/disputes"):
            return self._dispute_open(body)
        if method == "POST" and path.startswith("/_emulator/disputes/") and path.endswith("/close"):
            return self._dispute_close(path.split("/")[3], body)
        if method == "GET" and path.startswith("/_emulator/objects/"):
            return self._objects(path.removeprefix("/_emulator/objects/"), query)
        return 404, {"error": {"message": f"Unknown control endpoint: {method} {path}"}}

    def _resend(self, body: bytes) -> tuple[int, Any]:
        """Deliver the given events now, in exactly the given order (repeats allowed), to the
        configured webhook URL: for tests of out-of-order and repeated delivery."""
        try:
            request = json.loads(body or b"{}")
        except json.JSONDecodeError as error:
            return 400, {"error": {"message": f"The body is not JSON: {error}"}}
        event_ids = request.get("event_ids") if isinstance(request, dict) else None
        if not isinstance(event_ids, list) or not all(isinstance(i, str) for i in event_ids):
            return 400, {"error": {"message": 'Send {"event_ids": ["evt_…", …]}.'}}
        settings = self.settings.current
        if not settings.webhook_url:
            return 400, {"error": {"message": "No webhook_url is configured."}}
        events = [self.store.get_event(event_id) for event_id in event_ids]
        missing = [i for i, event in zip(event_ids, events, strict=True) if event is None]
        if missing:
            return 404, {"error": {"message": f"No such events: {', '.join(missing)}"}}
        results = [
            send_now(
                event,
                url=settings.webhook_url,
                secret=settings.webhook_secret,
                timeout=settings.webhook_timeout_ms / 1000,
            )
            for event in events
            if event is not None
        ]
        return 200, {"data": results}

    def _dispute_open(self, body: bytes) -> tuple[int, Any]:
        """Open a dispute: ``{"charge": "ch_…", "amount": n (default: the charge's unrefunded
        amount), "reason": "general"}``; answers the dispute."""
        request = _json_object(body)
        if request is None or not isinstance(request.get("charge"), str):
            return 400, {"error": {"message": 'Send {"charge": "ch_…", "amount": n, "reason": …}.'}}
        amount = request.get("amount")
        reason = request.get("reason", "general")
        if (amount is not None and type(amount) is not int) or not isinstance(reason, str):
            return 400, {"error": {"message": "amount must be an integer, reason a string."}}
        charge_id: str = request["charge"]
        try:
            dispute = self.api.perform(
                lambda call: open_dispute(call, charge_id=charge_id, amount=amount, reason=reason)
            )
        except StripeError as error:
            return error.status, error.body()
        return 200, dispute

    def _dispute_close(self, dispute_id: str, body: bytes) -> tuple[int, Any]:
        """Close an open dispute: ``{"status": "won" | "lost"}``; answers the dispute."""
        request = _json_object(body)
        status = request.get("status") if request is not None else None
        if not isinstance(status, str):
            return 400, {"error": {"message": 'Send {"status": "won"} or {"status": "lost"}.'}}
        try:
            dispute = self.api.perform(
                lambda call: close_dispute(call, dispute_id=dispute_id, status=status)
            )
        except StripeError as error:
            return error.status, error.body()
        return 200, dispute

    def _objects(self, name: str, query: str) -> tuple[int, Any]:
        object_type = OBJECT_TYPES.get(name, name if name in OBJECT_TYPES.values() else None)
        if object_type is None:
            return 404, {
                "error": {
                    "message": f"Unknown object type {name}: use one of {sorted(OBJECT_TYPES)}"
                }
            }
        args = {key: values[-1] for key, values in parse_qs(query).items()}
        try:
            limit = int(args.get("limit", "100"))
        except ValueError:
            return 400, {"error": {"message": "limit must be an integer"}}
        count, objects = self.store.find_objects(
            object_type,
            metadata_key=args.get("metadata_key"),
            metadata_value=args.get("metadata_value"),
            customer=args.get("customer"),
            status=args.get("status"),
            limit=limit,
        )
        return 200, {"count": count, "data": [public(obj) for obj in objects]}

    # ---------------------------------------------------------------------------------------
    # Hosted pages

    def hosted(self, path: str) -> Response | None:
        parts = path.strip("/").split("/")
        if parts[0] == "i" and len(parts) in (2, 3):
            invoice = self.store.get(parts[1])
            if invoice is None or invoice.get("object") != "invoice" or invoice["number"] is None:
                return None
            lines = invoice_summary(invoice)
            if len(parts) == 2:
                return Response(200, html_page(lines[0], lines), {"Content-Type": "text/html"})
            if parts[2] == "pdf":
                return Response(200, pdf_document(lines), {"Content-Type": "application/pdf"})
        if parts[0] == "credit_notes" and len(parts) == 3 and parts[2] == "pdf":
            note = self.store.get(parts[1])
            if note is None or note.get("object") != "credit_note":
                return None
            lines = credit_note_summary(note)
            return Response(200, pdf_document(lines), {"Content-Type": "application/pdf"})
        return None


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        request = json.loads(body or b"{}")
    except json.JSONDecodeError:
        return None
    return request if isinstance(request, dict) else None


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], emulator: Emulator
    ) -> None:
        self.emulator = emulator
        super().__init__(address, handler)


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle's algorithm and the
    # client's delayed ACK hold every keep-alive response back by ~40 ms.
    disable_nagle_algorithm = True
    server: EmulatorHTTPServer
    server_version = "StripeEmulator/1.0"

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    def _dispatch(self, method: str) -> None:
        emulator = self.server.emulator
        url = urlsplit(self.path)
        length_header = self.headers.get("Content-Length") or "0"
        if not length_header.isdigit() or int(length_header) > MAX_BODY_BYTES:
            status = 413 if length_header.isdigit() else 400
            message = b'{"error": {"message": "Invalid or too large Content-Length"}}'
            self._send(Response(status, message, {"Content-Type": "application/json"}))
            self.close_connection = True
            return
        length = int(length_header)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            # The client went away before its whole body arrived (e.g. a worker killed between
            # sending the headers and the body): that is no request, and it must not run, or an
            # idempotency key would be saved with the parameters that happened to arrive.
            self.close_connection = True
            return
        if url.path.startswith("/v1/") or url.path == "/v1":
            headers = {name.lower(): value for name, value in self.headers.items()}
            host = self.headers.get("Host") or "{}:{}".format(*emulator.address)
            response = emulator.api.handle(
                Request(method, url.path, url.query, body, headers, public_base=f"http://{host}")
            )
        elif url.path.startswith("/_emulator/"):
            status, payload = emulator.control(method, url.path, url.query, body)
            response = Response(
                status, json.dumps(payload).encode(), {"Content-Type": "application/json"}
            )
        else:
            hosted = emulator.hosted(url.path) if method == "GET" else None
            response = hosted or Response(
                404, b"Not found\n", {"Content-Type": "text/plain; charset=utf-8"}
            )
        self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)
