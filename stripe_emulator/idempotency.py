"""Idempotent requests, as Stripe documents them.

- A POST may carry ``Idempotency-Key`` (at most 255 characters). Keys are scoped to the API key.
- The first request with a key that *starts executing* has its result saved — whatever its
  status: success, a 402 card decline, a 400 from a business rule, even a 500 — together with a
  fingerprint of its method, path and parameters. A later request with the same key and the same
  fingerprint gets that response again, byte for byte, with ``Idempotent-Replayed: true`` and
  ``Original-Request: <req id>``.
- The same key with a different fingerprint → 400 ``idempotency_error``.
- A request whose key is still being executed by another request → 409 ``idempotency_error``.
- Requests rejected before executing (authentication, parameter validation, injected faults,
  rate limits) save nothing, so retrying them with the same key executes them.
- Saved results expire after 24 hours; the key can then be used again.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stripe_emulator.errors import StripeError, invalid_request
from stripe_emulator.store import IdempotentResult, Store

KEY_TTL_SECONDS = 24 * 60 * 60
MAX_KEY_LENGTH = 255
PURGE_EVERY = 1000


@dataclass(frozen=True)
class Claim:
    """The right to execute a request with this key; release it when done."""

    api_key: str
    key: str
    fingerprint: str


def fingerprint(method: str, path: str, params: Any) -> str:
    canonical = json.dumps([method.upper(), path, params], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class Idempotency:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        self._in_flight: set[tuple[str, str]] = set()
        self._saved_since_purge = 0

    def begin(self, api_key: str, key: str, request_fingerprint: str) -> Claim | IdempotentResult:
        """A stored result to replay, or a :class:`Claim` to execute; raises Stripe's errors."""
        if len(key) > MAX_KEY_LENGTH:
            raise invalid_request(
                f"Idempotency keys can be at most {MAX_KEY_LENGTH} characters long.",
                param="Idempotency-Key",
            )
        with self._lock:
            stored = self._store.idempotent_result(api_key, key)
            if stored is not None and stored.created >= self._clock() - KEY_TTL_SECONDS:
                if stored.fingerprint != request_fingerprint:
                    raise StripeError(
                        400,
                        "Keys for idempotent requests can only be used with the same parameters "
                        "they were first used with. Try using a key other than "
                        f"'{key}' if you meant to execute a different request.",
                        error_type="idempotency_error",
                    )
                return stored
            if (api_key, key) in self._in_flight:
                raise StripeError(
                    409,
                    "There is currently another in-progress request using this Idempotent Key "
                    "(that probably means you submitted twice, and the other request is still "
                    f"going through): {key}. Please try again later.",
                    error_type="idempotency_error",
                )
            self._in_flight.add((api_key, key))
        return Claim(api_key=api_key, key=key, fingerprint=request_fingerprint)

    def save(self, claim: Claim, *, status: int, body: bytes, request_id: str) -> None:
        """Save the executed result; call inside the request's transaction."""
        now = self._clock()
        self._store.save_idempotent_result(
            claim.api_key,
            claim.key,
            IdempotentResult(
                fingerprint=claim.fingerprint,
                status=status,
                body=body,
                request_id=request_id,
                created=now,
            ),
        )
        self._saved_since_purge += 1
        if self._saved_since_purge >= PURGE_EVERY:
            self._saved_since_purge = 0
            self._store.purge_idempotent_results(now - KEY_TTL_SECONDS)

    def release(self, claim: Claim) -> None:
        with self._lock:
            self._in_flight.discard((claim.api_key, claim.key))
