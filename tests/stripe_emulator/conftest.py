"""Fixtures for the Stripe emulator's own tests: one emulator process for the session
(``emulator``), talked to through the real ``stripe`` SDK over HTTP, wiped and set back to quiet
settings before each test.

These tests need neither the database nor Django's cache, so the project-wide autouse fixtures
that set those up (``tests/conftest.py``) are replaced here by no-ops of the same name.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from tests.emulator_process import EmulatorProcess

API_KEY = "sk_test_emulator"
WEBHOOK_SECRET = "whsec_test_emulator_suite"

# Settings every test starts from: no faults, no webhooks, quick webhook retries.
QUIET: dict[str, object] = {
    "latency_ms": 0,
    "error_rate": 0.0,
    "rate_limit_error_rate": 0.0,
    "rate_limit_per_second": 0,
    "seed": None,
    "webhook_url": None,
    "webhook_secret": WEBHOOK_SECRET,
    "webhook_duplicates": 1,
    "webhook_shuffle": False,
    "webhook_batch_ms": 200,
    "webhook_max_attempts": 8,
    "webhook_backoff_ms": 100,
}


@pytest.fixture(autouse=True)
def _isolated_cache() -> None:
    """The emulator tests use no Django cache (replaces the project-wide fixture)."""


@pytest.fixture(autouse=True)
def _fast_password_hashing() -> None:
    """The emulator tests hash no passwords (replaces the project-wide fixture)."""


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """One emulator process for the session: a temporary data directory, no webhooks."""
    process = EmulatorProcess(
        data_dir=tmp_path_factory.mktemp("stripe-emulator"), rate_limit_per_second=0
    ).start()
    yield process
    process.stop()


@pytest.fixture(autouse=True)
def _clean_emulator(emulator: EmulatorProcess) -> None:
    """Every test starts from an empty emulator with quiet settings and zeroed statistics."""
    emulator.configure(**QUIET)
    emulator.reset()
    emulator.reset_stats()


@pytest.fixture
def client(emulator: EmulatorProcess) -> stripe.StripeClient:
    return stripe.StripeClient(
        API_KEY, base_addresses={"api": emulator.api_base}, max_network_retries=0
    )


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]

    @property
    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class WebhookReceiver:
    """A local HTTP endpoint recording every webhook; answers ``statuses`` in turn, then 200."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if self.statuses else 200

    def record(self, item: Received) -> None:
        with self.lock:
            self.received.append(item)

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [item.event for item in self.received]


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = receiver.answer()
            receiver.record(Received(body=body, headers=dict(self.headers.items())))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/stripe/"
    yield receiver
    server.shutdown()
    server.server_close()
