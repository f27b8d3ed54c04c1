"""One row per `Idempotency-Key` a caller sent to an opted-in view: the claim taken before the
view ran and, once it answered, the response to replay. The package docstring has the rules."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import MD5


class IdempotencyRecordStatus(models.TextChoices):
    """The one transition is IN_PROGRESS → COMPLETED (`idempotency_record_complete`); an
    in-progress record whose request failed is deleted instead (`idempotency_record_release`)."""

    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"


class IdempotencyRecord(models.Model):
    # The caller's scope: the authenticated user, or NULL for anonymous callers (who share one
    # namespace; unique with NULLS NOT DISTINCT). Deleting a user deletes their records.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.TextField()
    # HMAC-SHA-256 of method, path, query and canonical body: never the body itself.
    fingerprint = models.CharField(max_length=64)
    status = models.CharField(
        max_length=16,
        choices=IdempotencyRecordStatus.choices,
        default=IdempotencyRecordStatus.IN_PROGRESS,
    )
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # Only allow-listed headers (Content-Type, Location, …), never cookies.
    response_headers = models.JSONField(default=dict, blank=True)
    # The rendered body exactly as first sent, replayed byte for byte.
    response_body = models.BinaryField(default=b"", blank=True)
    created_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    # From then on the record counts as absent and `idempotency_records_purge` deletes it.
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints: ClassVar = [
            # The claim: two requests with one key in one scope cannot both insert.
            models.UniqueConstraint(
                F("user"),
                F("key"),
                F("method"),
                MD5("path"),
                name="idempotency_record_one_per_scope_and_key",
                nulls_distinct=False,
            ),
            models.CheckConstraint(
                name="idempotency_record_completed_has_response",
                condition=Q(
                    status=IdempotencyRecordStatus.IN_PROGRESS,
                    response_status__isnull=True,
                    completed_at__isnull=True,
                )
                | Q(
                    status=IdempotencyRecordStatus.COMPLETED,
                    response_status__isnull=False,
                    completed_at__isnull=False,
                ),
            ),
        ]

    def __str__(self) -> str:
        caller = f"user {self.user_id}" if self.user_id is not None else "anonymous"
        return f"{self.method} {self.path} key {self.key!r} ({caller}, {self.status})"
