"""Writes about idempotency records: claiming a key before the view runs, storing the view's
answer, releasing a failed claim, purging expired records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.models import User
from config import clock
from idempotency.errors import IdempotencyKeyInUseError, IdempotencyKeyReusedError
from idempotency.models import IdempotencyRecord, IdempotencyRecordStatus

UNIQUE_CONSTRAINT = "idempotency_record_one_per_scope_and_key"
# A claim that loses the insert race reads the winner's record; if that record vanished in
# between (released or expired), the claim tries again this many times in all.
CLAIM_ATTEMPTS = 3


@dataclass(frozen=True)
class ClaimedKey:
    """This request holds the key: run the view, then complete or release `record_id`."""

    record_id: int


@dataclass(frozen=True)
class StoredResponse:
    """A response as stored for replay: status, allow-listed headers, the rendered body."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def idempotency_record_claim(
    *, user: User | None, key: str, method: str, path: str, fingerprint: str
) -> ClaimedKey | StoredResponse:
    """Claim `key` for one request in the scope (caller, method, path), before its view runs.

    Rules:
    - The scope is the authenticated `user`, or the shared anonymous namespace when `user` is
      None, plus `method` and `path`. A key in one scope says nothing about another scope.
    - No live record: an IN_PROGRESS record with the fingerprint is inserted and committed in a
      transaction of its own (so concurrent requests see it), and `ClaimedKey` is returned.
    - A record past its `expires_at` counts as absent: it is deleted and replaced.
    - A live record with another fingerprint: `IdempotencyKeyReusedError`.
    - A COMPLETED record with the same fingerprint: its `StoredResponse`, to replay.
    - An IN_PROGRESS record with the same fingerprint: `IdempotencyKeyInUseError`.
    Concurrent claims are decided by the database: the unique constraint on (user, key,
    method, md5(path)) lets exactly one insert commit; every other claim then reads it.
    Refuses to run inside a transaction (the claim must be visible before the view runs).
    """
    in_scope = IdempotencyRecord.objects.filter(user=user, key=key, method=method, path=path)
    for _ in range(CLAIM_ATTEMPTS):
        now = clock.now()
        with transaction.atomic(durable=True):
            in_scope.filter(expires_at__lte=now).delete()
            try:
                with transaction.atomic():
                    record = IdempotencyRecord.objects.create(
                        user=user,
                        key=key,
                        method=method,
                        path=path,
                        fingerprint=fingerprint,
                        created_at=now,
                        expires_at=now + settings.IDEMPOTENCY_KEY_TTL,
                    )
            except IntegrityError as exc:
                if _violated_constraint(exc) != UNIQUE_CONSTRAINT:
                    raise
                existing = in_scope.filter(expires_at__gt=now).first()
            else:
                return ClaimedKey(record_id=record.pk)
        if existing is None:
            continue  # the holder released it (or it expired) after our insert failed
        if existing.fingerprint != fingerprint:
            raise IdempotencyKeyReusedError(
                "This Idempotency-Key was already used with different parameters; "
                "use a new key for a different request."
            )
        if (
            existing.status == IdempotencyRecordStatus.IN_PROGRESS
            or existing.response_status is None  # never, by the check constraint
        ):
            raise IdempotencyKeyInUseError(
                "A request with this Idempotency-Key is still being processed; retry later."
            )
        return StoredResponse(
            status=existing.response_status,
            headers=dict(existing.response_headers),
            body=bytes(existing.response_body),
        )
    raise IdempotencyKeyInUseError(
        "A request with this Idempotency-Key is changing hands; retry later."
    )


def idempotency_record_complete(*, record_id: int, response: StoredResponse) -> bool:
    """Store the view's final answer on a claimed record (IN_PROGRESS → COMPLETED), so that
    later requests with the same key and fingerprint replay it until the record expires.

    Only answers below 500 are stored (a 5xx is released instead). Returns False, storing
    nothing, when the record is no longer in progress (an operator deleted it, or it expired
    and was purged while the view ran)."""
    if response.status >= 500:
        raise ValueError("a 5xx answer is released, never stored")
    updated = IdempotencyRecord.objects.filter(
        pk=record_id, status=IdempotencyRecordStatus.IN_PROGRESS
    ).update(
        status=IdempotencyRecordStatus.COMPLETED,
        response_status=response.status,
        response_headers=response.headers,
        response_body=response.body,
        completed_at=clock.now(),
    )
    return updated == 1


def idempotency_record_release(*, record_id: int) -> bool:
    """Delete a claimed record whose request failed (a 5xx or an exception), so the client can
    retry with the same key and the view runs again. Completed records are never released.
    Returns whether a record was deleted."""
    deleted, _ = IdempotencyRecord.objects.filter(
        pk=record_id, status=IdempotencyRecordStatus.IN_PROGRESS
    ).delete()
    return deleted > 0


def idempotency_records_purge(*, now: datetime | None = None) -> int:
    """Delete every record whose `expires_at` has passed (they already count as absent).
    Returns how many were deleted. Safe to run at any time and concurrently."""
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=now or clock.now()).delete()
    return deleted


def _violated_constraint(exc: IntegrityError) -> str | None:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)
