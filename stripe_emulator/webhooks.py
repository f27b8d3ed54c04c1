"""Webhook delivery: signed like Stripe's, retried, persisted, with chaos knobs.

Each queued delivery (a row written with its event, see :mod:`stripe_emulator.events`) is POSTed
to its endpoint as the event's JSON with ``Content-Type: application/json; charset=utf-8`` and
``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``, which is how
Stripe signs and what ``stripe.Webhook.construct_event(payload, header, secret)`` checks.

- A 2xx answer is a delivery; anything else (another status, a refused connection, a timeout)
  is retried after ``webhook_backoff_ms``, doubling each time, up to ``webhook_max_attempts``.
- Deliveries live in the database, so a restart resumes the pending ones (at least once: one
  cut off mid-flight is sent again).
- ``webhook_duplicates``: every event is queued that many times.
- ``webhook_shuffle``: due deliveries are collected for ``webhook_batch_ms`` and sent in random
  order. Deliveries run on several threads, so even without shuffling the order is not guaranteed
  — as with Stripe.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection, HTTPException, HTTPSConnection
from typing import Any
from urllib.parse import urlsplit

from stripe_emulator.config import Settings
from stripe_emulator.faults import Randomness
from stripe_emulator.store import Delivery, Store

log = logging.getLogger(__name__)

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
IDLE_POLL_SECONDS = 1.0


def signature_header(payload: bytes, secret: str, timestamp: int) -> str:
    """Stripe's ``Stripe-Signature`` header for a payload."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def post(
    url: str, payload: bytes, headers: dict[str, str], timeout: float
) -> tuple[int | None, str | None]:
    """POST once; (status, None) on an answer, (None, reason) when no answer came.

    Redirects are not followed: like Stripe, a 3xx is a failed delivery.
    """
    parts = urlsplit(url)
    connection_class = HTTPSConnection if parts.scheme == "https" else HTTPConnection
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    connection = connection_class(parts.netloc, timeout=timeout)
    try:
        connection.request("POST", path, body=payload, headers=headers)
        response = connection.getresponse()
        response.read()
    except (OSError, HTTPException) as error:
        return None, f"{type(error).__name__}: {error}"
    finally:
        connection.close()
    return response.status, None if 200 <= response.status < 300 else f"HTTP {response.status}"


def send_now(event: dict[str, Any], *, url: str, secret: str, timeout: float) -> dict[str, Any]:
    """Deliver one event immediately, signed now (what Stripe's "Resend" does); not queued,
    not retried. Returns the outcome for the caller."""
    payload = json.dumps(event, indent=2).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": signature_header(payload, secret, int(time.time())),
        "User-Agent": USER_AGENT,
    }
    status, error = post(url, payload, headers, timeout)
    return {"event_id": event["id"], "type": event["type"], "status": status, "error": error}


class WebhookDispatcher:
    """Background threads sending the queued deliveries."""

    def __init__(
        self,
        store: Store,
        settings: Callable[[], Settings],
        randomness: Randomness,
        *,
        workers: int,
    ) -> None:
        self._store = store
        self._settings = settings
        self._random = randomness
        self._workers = workers
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._in_flight: set[int] = set()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhook")
        self._thread = threading.Thread(target=self._run, name="webhook-dispatcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def wake(self) -> None:
        """New deliveries may be due (called after a transaction that queued some commits)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                submitted = self._dispatch_due()
            except Exception:
                log.exception("webhook dispatcher failed; retrying")
                submitted = 0
            if submitted == 0:
                self._wake.wait(self._idle_wait())

    def _idle_wait(self) -> float:
        """Until the next retry falls due (deliveries in flight wake the loop when done)."""
        now = time.time()
        next_time = self._store.next_delivery_time(after=now)
        if next_time is None:
            return IDLE_POLL_SECONDS
        return min(IDLE_POLL_SECONDS, max(0.005, next_time - now))

    def _dispatch_due(self) -> int:
        capacity = self._workers * 8
        with self._lock:
            busy = set(self._in_flight)
        if len(busy) >= capacity:
            return 0
        due = self._store.due_deliveries(time.time(), exclude=busy, limit=capacity - len(busy))
        settings = self._settings()
        if due and settings.webhook_shuffle:
            # Let a batch build up, then send it in random order.
            self._stopping.wait(settings.webhook_batch_ms / 1000)
            due = self._store.due_deliveries(time.time(), exclude=busy, limit=10_000)
            self._random.shuffle(due)
        with self._lock:
            self._in_flight.update(delivery.id for delivery in due)
        for delivery in due:
            self._pool.submit(self._deliver, delivery)
        return len(due)

    def _deliver(self, delivery: Delivery) -> None:
        try:
            self._attempt(delivery)
        except Exception:
            log.exception("webhook delivery %s failed unexpectedly", delivery.id)
        finally:
            with self._lock:
                self._in_flight.discard(delivery.id)
            self._wake.set()

    def _attempt(self, delivery: Delivery) -> None:
        event = self._store.get_event(delivery.event_id)
        if event is None:  # wiped by a reset meanwhile
            return
        settings = self._settings()
        payload = json.dumps(event, indent=2).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature_header(payload, delivery.secret, int(time.time())),
            "User-Agent": USER_AGENT,
        }
        status, error = post(delivery.url, payload, headers, settings.webhook_timeout_ms / 1000)
        delivered = status is not None and 200 <= status < 300
        attempts = delivery.attempts + 1
        failed = not delivered and attempts >= settings.webhook_max_attempts
        backoff = settings.webhook_backoff_ms / 1000 * 2 ** (attempts - 1)
        self._store.record_delivery_attempt(
            delivery.id,
            status=status,
            error=error,
            delivered=delivered,
            failed=failed,
            next_attempt_at=time.time() + (0 if delivered or failed else backoff),
        )
        if delivered or failed:
            self._store.decrement_pending_webhooks(delivery.event_id)
        if not delivered:
            log.info(
                "webhook %s (%s) to %s: attempt %d failed (%s)%s",
                delivery.event_id,
                delivery.event_type,
                delivery.url,
                attempts,
                error,
                "; giving up" if failed else "",
            )
