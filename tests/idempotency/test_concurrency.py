"""Concurrent requests with one key, over real HTTP against the threaded live server (each
request on its own database connection): the database decides, the view runs once."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass
from urllib.error import HTTPError

import pytest

from idempotency.models import IdempotencyRecord, IdempotencyRecordStatus
from partners.models import Partner
from tests.idempotency.urls import SLOW_PARTNERS_URL, handler_calls, slow_view_may_finish

pytestmark = pytest.mark.urls("tests.idempotency.urls")

CLIENTS = 20
NAME = "Concurrent Idempotency Health"


@dataclass(frozen=True)
class Answer:
    status: int
    replayed: bool
    body: bytes

    @property
    def error_code(self) -> str | None:
        if self.status < 400:
            return None
        code: str = json.loads(self.body)["error"]["code"]
        return code


def send(url: str) -> Answer:
    request = urllib.request.Request(  # noqa: S310  (the live server's http URL)
        url,
        data=json.dumps({"name": NAME}).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Idempotency-Key": "one-key-for-all"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            headers, status, body = response.headers, response.status, response.read()
    except HTTPError as error:
        headers, status, body = error.headers, error.code, error.read()
    return Answer(status=status, replayed=headers.get("Idempotent-Replayed") == "true", body=body)


def send_all_at_once(url: str, answers: list[Answer]) -> list[threading.Thread]:
    barrier = threading.Barrier(CLIENTS)
    lock = threading.Lock()

    def client() -> None:
        barrier.wait()
        answer = send(url)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    return threads


def test_concurrent_identical_requests_run_the_view_exactly_once(live_server):
    url = f"{live_server.url}{SLOW_PARTNERS_URL}"
    answers = []

    # Wave 1: the request that claims the key is held inside the view until every other
    # request has been answered (or 30 s pass, should more than one of them be in the view).
    threads = send_all_at_once(url, answers)
    deadline = time.monotonic() + 30
    while len(answers) < CLIENTS - 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    slow_view_may_finish.set()
    for thread in threads:
        thread.join(timeout=60)

    assert len(answers) == CLIENTS
    assert handler_calls["slow_partner_create"] == 1
    assert Partner.objects.filter(name=NAME).count() == 1
    [original] = [a for a in answers if a.status == 201 and not a.replayed]
    others = [a for a in answers if a is not original]
    for answer in others:
        assert (answer.status, answer.error_code) == (409, "idempotency_key_in_use") or (
            answer.replayed and (answer.status, answer.body) == (201, original.body)
        ), answer
    assert any(a.error_code == "idempotency_key_in_use" for a in others)
    record = IdempotencyRecord.objects.get()
    assert record.status == IdempotencyRecordStatus.COMPLETED

    # Wave 2: once the first request is done, everyone gets its answer replayed.
    replays = []
    for thread in send_all_at_once(url, replays):
        thread.join(timeout=60)

    assert len(replays) == CLIENTS
    assert all(a.replayed and (a.status, a.body) == (201, original.body) for a in replays)
    assert handler_calls["slow_partner_create"] == 1
    assert Partner.objects.filter(name=NAME).count() == 1
