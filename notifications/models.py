"""Emails to users, queued in the transaction of the change they tell about and sent by Celery
after the commit. One row per business event (`dedupe_key`, unique): an event queued twice is
one email."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

from config import clock


class NotificationKind(models.TextChoices):
    SIGNUP_RECEIPT = "signup_receipt"
    RENEWAL_UPCOMING = "renewal_upcoming"
    PRIME_LAPSED = "prime_lapsed"
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_RECOVERED = "payment_recovered"
    CANCELLATION_SCHEDULED = "cancellation_scheduled"
    MEMBERSHIP_CANCELED = "membership_canceled"
    ENROLLMENT_CONFIRMED = "enrollment_confirmed"  # employer-sponsored membership started
    SPONSORSHIP_ENDING = "sponsorship_ending"  # roster termination: last day, conversion offer
    EMPLOYER_ADMIN_INVITATION = "employer_admin_invitation"


class NotificationStatus(models.TextChoices):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # the mail server refused it every time; see last_error


class EmailNotification(models.Model):
    """An email to `user`. The address is read from the user when it is sent, and `context`
    holds only what the message says (plan, amounts, dates), never personal data."""

    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    dedupe_key = models.CharField(max_length=200, unique=True)
    context = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=clock.now)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes: ClassVar = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="email_notification_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"
