"""Notification reads."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Q, QuerySet

from notifications.models import EmailNotification, NotificationStatus


def email_notifications_stuck(*, now: dt.datetime) -> QuerySet[EmailNotification]:
    """Emails that will not go by themselves: failed (the mail server refused every attempt),
    or due for longer than STUCK_EMAIL_SECONDS without a sender taking them (no worker, a lost
    task)."""
    late = now - dt.timedelta(seconds=settings.STUCK_EMAIL_SECONDS)
    return EmailNotification.objects.filter(
        Q(status=NotificationStatus.FAILED)
        | Q(status=NotificationStatus.PENDING, next_attempt_at__lt=late)
    ).order_by("id")
