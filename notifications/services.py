"""Queueing and sending emails (see models.py).

Rules:
- `notification_queue` runs inside the transaction of the change it tells about: if that
  transaction rolls back, there is nothing to send. After the commit a Celery task sends it; a
  sweep (beat, every minute) sends whatever a lost task or a refused delivery left pending.
- Never twice for one business event: the row is unique per `dedupe_key`, and sending holds the
  row's lock and sends only a pending row, so concurrent or repeated tasks send it once. If a
  worker dies after the mail server accepted a message but before the commit, the row is still
  pending and is sent again; the Message-ID header is the same both times, so mail servers and
  providers that deduplicate by it deliver one.
- A refused delivery is retried with exponential backoff (1, 2, 4 … minutes, at most 6 hours)
  up to `NOTIFICATION_MAX_ATTEMPTS`, then the row is marked failed with the error.
- The recipient's address is read from the user at send time; logs name the notification id and
  kind, never the address.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import smtplib
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string

from config import clock
from notifications.models import EmailNotification, NotificationKind, NotificationStatus

logger = logging.getLogger(__name__)

MAX_BACKOFF = dt.timedelta(hours=6)


def notification_queue(
    *, user_id: int, kind: NotificationKind, dedupe_key: str, context: dict[str, Any]
) -> bool:
    """Queue an email to the user, once per `dedupe_key`; it is sent after the commit.
    Returns False when that key was queued before (nothing new is sent)."""
    notification, created = EmailNotification.objects.get_or_create(
        dedupe_key=dedupe_key, defaults={"user_id": user_id, "kind": kind, "context": context}
    )
    if created:
        # robust: a broker that is down must not undo the change; the sweep sends it later
        transaction.on_commit(lambda: _send_soon(notification.pk), robust=True)
    return created


def notifications_queue_many(*, notifications: list[EmailNotification]) -> int:
    """Queue many emails at once, skipping keys queued before (one read, one INSERT); the
    sweep sends them after the commit. Returns how many were new."""
    keys = [notification.dedupe_key for notification in notifications]
    queued_before = set(
        EmailNotification.objects.filter(dedupe_key__in=keys).values_list("dedupe_key", flat=True)
    )
    new = [n for n in notifications if n.dedupe_key not in queued_before]
    # ignore_conflicts: a concurrent run that queued the same key in the meantime wins
    EmailNotification.objects.bulk_create(new, ignore_conflicts=True, batch_size=1000)
    if new:
        transaction.on_commit(_sweep_soon, robust=True)
    return len(new)


def notification_send(*, notification_id: int) -> bool:
    """Send one queued email, unless it was sent already or another worker is sending it.
    Returns True when this call sent it."""
    with transaction.atomic():
        notification = (
            EmailNotification.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("user")
            .filter(pk=notification_id, status=NotificationStatus.PENDING)
            .first()
        )
        if notification is None:
            return False
        notification.attempts += 1
        try:
            notification_message(notification=notification).send()
        except (smtplib.SMTPException, OSError) as exc:
            _delivery_refused(notification=notification, error=exc)
            return False
        notification.status = NotificationStatus.SENT
        notification.sent_at = clock.now()
        notification.last_error = ""
        notification.save(update_fields=["status", "attempts", "sent_at", "last_error"])
    logger.info("Sent %s email (notification %s)", notification.kind, notification.pk)
    return True


def notifications_send_due(*, limit: int = 1000) -> int:
    """Send pending emails whose time has come (the sweep). Returns how many were sent."""
    due = EmailNotification.objects.filter(
        status=NotificationStatus.PENDING, next_attempt_at__lte=clock.now()
    ).order_by("next_attempt_at", "id")
    return sum(
        notification_send(notification_id=pk)
        for pk in list(due.values_list("id", flat=True)[:limit])
    )


def notification_message(*, notification: EmailNotification) -> EmailMessage:
    """The email as it is sent: the template `notifications/<kind>.txt` gives the subject (its
    first line, `Subject: …`) and the body (after the blank line)."""
    rendered = render_to_string(
        f"notifications/{notification.kind}.txt",
        {**notification.context, "service_name": settings.NOTIFICATION_SERVICE_NAME},
    )
    subject_line, _, body = rendered.strip().partition("\n\n")
    subject = subject_line.removeprefix("Subject:").strip()
    return EmailMessage(
        subject=subject,
        body=body.strip() + "\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.user.email],
        headers={"Message-ID": _message_id(notification)},
    )


def _message_id(notification: EmailNotification) -> str:
    """The same for every attempt at one notification, and unlike any other database's."""
    digest = hashlib.sha256(
        f"{notification.dedupe_key}:{notification.created_at.isoformat()}".encode()
    ).hexdigest()[:16]
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
    return f"<notification.{notification.pk}.{digest}@{domain}>"


def _delivery_refused(*, notification: EmailNotification, error: Exception) -> None:
    notification.last_error = f"{type(error).__name__}: {error}"[:500]
    if notification.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS:
        notification.status = NotificationStatus.FAILED
    else:
        backoff = min(dt.timedelta(minutes=2 ** (notification.attempts - 1)), MAX_BACKOFF)
        notification.next_attempt_at = clock.now() + backoff
    notification.save(update_fields=["status", "attempts", "next_attempt_at", "last_error"])
    logger.warning(
        "Sending %s email (notification %s) failed, attempt %s: %s",
        notification.kind,
        notification.pk,
        notification.attempts,
        type(error).__name__,
    )


def _send_soon(notification_id: int) -> None:
    from notifications.tasks import notification_send_task

    notification_send_task.delay(notification_id)


def _sweep_soon() -> None:
    from notifications.tasks import notifications_send_due_task

    notifications_send_due_task.delay()
