"""Webhooks in the simulation: the emulator POSTs every event (signed) to a small HTTP collector
in this process; at the end of each simulated day the collected deliveries are handed to the
project's real intake view (`StripeWebhookApi`: signature check on the raw body, store, process)
under the simulated day's clock.

Faults: the emulator delivers each event `duplicates` times and shuffles what it sends in each
batch window; on top of that the day's deliveries are handed over in a seeded random order, and
a seeded share of them is held back and delivered after the next day's (late and out of order).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.test import RequestFactory

from billing.apis import StripeWebhookApi


@dataclass(frozen=True)
class Delivery:
    body: bytes
    signature: str


class WebhookCollector:
    """An HTTP server on 127.0.0.1 that keeps every delivery it receives, answering 200."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with collector._lock:
                    collector._deliveries.append(
                        Delivery(body, self.headers.get("Stripe-Signature", ""))
                    )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/webhooks/stripe/"

    def start(self) -> WebhookCollector:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def take(self) -> list[Delivery]:
        with self._lock:
            taken, self._deliveries = self._deliveries, []
        return taken

    def received(self) -> int:
        with self._lock:
            return len(self._deliveries)


@dataclass
class WebhookFigures:
    delivered: int = 0  # handed to the intake
    new_events: int = 0
    duplicates: int = 0  # answered 200 "duplicate": stored once already
    held_back: int = 0  # delivered a day late, after newer ones
    rejected: Counter[int] = field(default_factory=Counter)  # by HTTP status


class WebhookDeliverer:
    """Hands collected deliveries to the intake view (see the module docstring)."""

    def __init__(self, *, collector: WebhookCollector, rng: random.Random, hold_back: float):
        self.collector = collector
        self.rng = rng
        self.hold_back = hold_back
        self.figures = WebhookFigures()
        self._late: list[Delivery] = []
        self._view = StripeWebhookApi.as_view()
        self._requests = RequestFactory()

    def deliver_due(self) -> None:
        """Deliver what was collected (shuffled), then what was held back from the day before;
        hold back a share of today's."""
        fresh = self.collector.take()
        self.rng.shuffle(fresh)
        held = [self.rng.random() < self.hold_back for _ in fresh]
        keep = [d for d, late in zip(fresh, held, strict=True) if not late]
        late = [d for d, late in zip(fresh, held, strict=True) if late]
        for delivery in keep + self._late:
            self._deliver(delivery)
        self.figures.held_back += len(late)
        self._late = late

    def deliver_all(self) -> None:
        """Deliver everything collected and held back (the end of the run)."""
        for delivery in self.collector.take() + self._late:
            self._deliver(delivery)
        self._late = []

    def _deliver(self, delivery: Delivery) -> None:
        request = self._requests.post(
            "/webhooks/stripe/",
            data=delivery.body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=delivery.signature,
        )
        response = self._view(request)
        self.figures.delivered += 1
        if response.status_code != 200:
            self.figures.rejected[response.status_code] += 1
        elif response.data.get("duplicate"):
            self.figures.duplicates += 1
        else:
            self.figures.new_events += 1
