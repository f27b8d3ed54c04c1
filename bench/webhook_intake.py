"""Benchmark: Stripe webhook intake under load. gunicorn (`config.wsgi`, 2 sync workers) runs the
app as a subprocess; a load generator in separate processes posts signed, unique events
concurrently (signed like Stripe: HMAC-SHA256 of "<t>.<body>" with the webhook secret). Each is
verified, stored and queued for processing on commit, into the real Celery broker (Redis; no
worker consumes it during the run). The floor, measured in the same run with the same generator:
gunicorn serving a bare Django view that answers 200 at the same URL
(`bench/webhook_floor_settings.py`).

    python bench/webhook_intake.py [--scale 0.1]

Checks every event was accepted, stored exactly once and queued exactly once, then removes the
stored events and their queued messages. Needs the app's environment (DATABASE_URL of a migrated
database, REDIS_URL). Target: ≥ 500 accepted events/s.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

import redis  # noqa: E402
from django.conf import settings  # noqa: E402

from bench.figures import Figure, figures_table  # noqa: E402
from billing.models import StripeEvent  # noqa: E402

EVENTS = 20_000  # at scale 1
TARGET_PER_SECOND = 500
URL = "/webhooks/stripe/"
CLIENT_PROCESSES = 2
THREADS_PER_PROCESS = 4
WORKERS = 2  # gunicorn's, as bin/run starts it
ROOT = Path(__file__).resolve().parent.parent
QUEUE = "celery"  # Celery's default queue (a Redis list)


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def event_body(event_id: str) -> bytes:
    customer = {"id": "cus_bench", "object": "customer", "email": "bench@example.test"}
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": int(time.time()),
            "type": "customer.updated",
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": customer},
        }
    ).encode()


def signature(body: bytes, secret: str) -> str:
    stamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


class Gunicorn:
    """`gunicorn config.wsgi` on a free port, with the bench's environment."""

    def __init__(self, settings_module: str, workers: int = WORKERS) -> None:
        self.port = free_port()
        self.workers = workers
        self.settings_module = settings_module
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Gunicorn:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": self.settings_module}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "config.wsgi:application"),
                *(
                    "-w",
                    str(self.workers),
                    "-b",
                    f"127.0.0.1:{self.port}",
                    "--log-level",
                    "warning",
                ),
            ],
            cwd=ROOT,
            env=env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            try:
                status, _ = post_one(self.port, b"{}", "")
                if status in (200, 400):  # both workers may still be importing; one answers
                    time.sleep(1.0)
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not answer within 30 s")

    def __exit__(self, *_: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def post_one(port: int, body: bytes, sig: str) -> tuple[int, bytes]:
    # gunicorn's sync workers close every connection after the answer: one connection each.
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            "POST",
            URL,
            body=body,
            headers={"Content-Type": "application/json", "Stripe-Signature": sig},
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def client_process(
    port: int,
    requests: list[tuple[bytes, str]],
    go: Any,
    results: Any,
) -> None:
    """One generator process: its requests split over threads, sent once `go` is set."""
    statuses: dict[int, int] = {}
    new = 0
    lock = threading.Lock()

    def worker(part: list[tuple[bytes, str]]) -> None:
        nonlocal new
        for body, sig in part:
            status, answer = post_one(port, body, sig)
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200 and b'"duplicate":false' in answer.replace(b" ", b""):
                    new += 1

    threads = [
        threading.Thread(target=worker, args=(requests[n::THREADS_PER_PROCESS],))
        for n in range(THREADS_PER_PROCESS)
    ]
    go.wait()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((statuses, new))


def load(port: int, requests: list[tuple[bytes, str]]) -> tuple[float, dict[int, int], int]:
    """Send every request from CLIENT_PROCESSES processes; seconds, statuses, new events."""
    context = mp.get_context("fork")
    go = context.Event()
    results = context.Queue()
    processes = [
        context.Process(
            target=client_process, args=(port, requests[n::CLIENT_PROCESSES], go, results)
        )
        for n in range(CLIENT_PROCESSES)
    ]
    for process in processes:
        process.start()
    time.sleep(0.5)  # the processes are up and waiting
    started = time.perf_counter()
    go.set()
    collected = [results.get(timeout=600) for _ in processes]
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    statuses: dict[int, int] = {}
    for part, _ in collected:
        for status, count in part.items():
            statuses[status] = statuses.get(status, 0) + count
    return elapsed, statuses, sum(new for _, new in collected)


def cleanup(prefix: str, broker: redis.Redis, queued: int) -> None:
    StripeEvent.objects.filter(stripe_event_id__startswith=prefix).delete()
    if queued > 0:  # kombu LPUSHes: the run's messages are the newest, at the list's head
        broker.ltrim(QUEUE, queued, -1)


def measure(*, scale: float = 1.0, workers: int = WORKERS) -> list[Figure]:
    """`20,000 x scale` signed events (at least 200) against gunicorn; the floor a bare view."""
    events = max(int(EVENTS * scale), 200)
    prefix = f"evt_bench{time.time_ns()}_"
    secret = settings.STRIPE_WEBHOOK_SECRET
    bodies = [event_body(f"{prefix}{n:07d}") for n in range(events)]
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queued_before = int(broker.llen(QUEUE))

    with Gunicorn("bench.webhook_floor_settings", workers) as floor_app:
        floor_seconds, floor_statuses, _ = load(
            floor_app.port, [(body, signature(body, secret)) for body in bodies]
        )
    queued = 0
    try:
        with Gunicorn("config.settings", workers) as app:
            seconds, statuses, new = load(
                app.port, [(body, signature(body, secret)) for body in bodies]
            )
        queued = int(broker.llen(QUEUE)) - queued_before
        stored = StripeEvent.objects.filter(stripe_event_id__startswith=prefix)
        stored_count = stored.count()
        distinct = stored.values("stripe_event_id").distinct().count()
    finally:
        cleanup(prefix, broker, queued)

    rate = events / seconds
    floor_rate = events / floor_seconds
    say(
        f"webhook intake: {events} signed events, gunicorn -w {workers}, {CLIENT_PROCESSES}x"
        f"{THREADS_PER_PROCESS} client threads"
    )
    say(f"  FLOOR bare Django view  {floor_seconds:6.2f} s = {floor_rate:7.0f}/s  {floor_statuses}")
    say(f"  intake                  {seconds:6.2f} s = {rate:7.0f}/s  {statuses}")
    say(f"  accepted new {new}, stored {stored_count} ({distinct} distinct), queued {queued}")
    say(
        f"  ratio {seconds / floor_seconds:.2f}x floor; target ≥ {TARGET_PER_SECOND}/s: "
        f"{'met' if rate >= TARGET_PER_SECOND else 'NOT met'}"
    )
    if not (new == stored_count == distinct == queued == events) or statuses != {200: events}:
        raise RuntimeError("events were lost, refused or duplicated (see above)")
    if floor_statuses != {200: events}:
        raise RuntimeError(f"the floor refused requests: {floor_statuses}")
    return [
        Figure(
            benchmark="webhook intake",
            measure=f"{events:,} signed events (verified, stored, queued), -w {workers}",
            seconds=seconds,
            floor="the same load against a bare Django view (200)",
            floor_seconds=floor_seconds,
            # The target is a rate (≥ 500/s); as a ratio in this run: (events / 500) / floor.
            target_ratio=(events / TARGET_PER_SECOND) / floor_seconds,
            rate=f"{rate:,.0f} events/s (floor {floor_rate:,.0f}/s)",
            notes=f"target ≥ {TARGET_PER_SECOND}/s; stored and queued exactly once each",
            extra={"events_per_second": rate, "floor_per_second": floor_rate},
        )
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=WORKERS, help="gunicorn's (default 2)")
    arguments = parser.parse_args()
    print(figures_table(measure(scale=arguments.scale, workers=arguments.workers)))
