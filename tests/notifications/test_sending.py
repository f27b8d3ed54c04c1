"""Queueing and sending emails: after the commit only, once per event, retried when the mail
server refuses, never sent twice by repeated or concurrent tasks."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.core import mail
from django.db import connection, transaction

from config import clock
from notifications.models import EmailNotification, NotificationKind, NotificationStatus
from notifications.services import (
    notification_message,
    notification_queue,
    notification_send,
    notifications_send_due,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

CONTEXT = {
    "plan": "Standard annual",
    "period_start": "January 1, 2027",
    "period_end": "December 31, 2027",
}


def queue(user_id: int, key: str = "test:1") -> bool:
    with transaction.atomic():
        return notification_queue(
            user_id=user_id,
            kind=NotificationKind.CANCELLATION_SCHEDULED,
            dedupe_key=key,
            context=CONTEXT,
        )


def test_an_email_is_sent_after_the_commit_to_the_users_address():
    user = UserFactory.create(email="reader@example.test")

    with transaction.atomic():
        notification_queue(
            user_id=user.pk,
            kind=NotificationKind.CANCELLATION_SCHEDULED,
            dedupe_key="test:1",
            context=CONTEXT,
        )
        assert mail.outbox == []  # not inside the transaction

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["reader@example.test"]
    assert (
        message.subject == "Your Primary Care Membership membership will end on December 31, 2027"
    )
    assert "your membership (Standard annual) will not renew" in message.body
    assert "{{" not in message.body
    assert "{%" not in message.body
    assert EmailNotification.objects.get().status == NotificationStatus.SENT


def test_a_rolled_back_change_sends_nothing():
    user = UserFactory.create()

    def change_that_fails() -> None:
        with transaction.atomic():
            notification_queue(
                user_id=user.pk,
                kind=NotificationKind.CANCELLATION_SCHEDULED,
                dedupe_key="test:1",
                context=CONTEXT,
            )
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        change_that_fails()

    assert mail.outbox == []
    assert not EmailNotification.objects.exists()


def test_the_same_event_queued_twice_is_one_email():
    user = UserFactory.create()

    assert queue(user.pk) is True
    assert queue(user.pk) is False

    assert EmailNotification.objects.count() == 1
    assert len(mail.outbox) == 1


def test_sending_again_sends_nothing():
    user = UserFactory.create()
    queue(user.pk)
    notification = EmailNotification.objects.get()

    assert notification_send(notification_id=notification.pk) is False
    assert notifications_send_due() == 0
    assert len(mail.outbox) == 1


def test_concurrent_sends_of_one_email_send_it_once():
    user = UserFactory.create()
    # a pending row whose task has not run yet (made directly: no task is queued)
    notification = EmailNotification.objects.create(
        user=user,
        kind=NotificationKind.CANCELLATION_SCHEDULED,
        dedupe_key="test:1",
        context=CONTEXT,
    )
    barrier = threading.Barrier(8)
    results: list[bool] = []

    def send() -> None:
        try:
            barrier.wait()
            results.append(notification_send(notification_id=notification.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False] * 7 + [True]
    assert len(mail.outbox) == 1


def test_a_refused_delivery_is_retried_with_backoff_then_sent_once(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = 1  # a real connection attempt that the machine refuses
    user = UserFactory.create()
    queue(user.pk)
    notification = EmailNotification.objects.get()

    assert notification.status == NotificationStatus.PENDING
    assert notification.attempts == 1
    assert notification.last_error.startswith("ConnectionRefusedError")
    assert notification.next_attempt_at > clock.now()
    assert notifications_send_due() == 0  # not due yet

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with clock.as_of(notification.next_attempt_at + dt.timedelta(seconds=1)):
        assert notifications_send_due() == 1
        assert notifications_send_due() == 0

    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == (NotificationStatus.SENT, 2)
    assert len(mail.outbox) == 1


def test_a_delivery_refused_every_time_is_marked_failed(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = 1
    settings.NOTIFICATION_MAX_ATTEMPTS = 3
    user = UserFactory.create()
    queue(user.pk)

    for _ in range(5):
        notification = EmailNotification.objects.get()
        with clock.as_of(notification.next_attempt_at):
            notifications_send_due()

    notification = EmailNotification.objects.get()
    assert (notification.status, notification.attempts) == (NotificationStatus.FAILED, 3)


def test_the_message_id_is_the_same_on_every_attempt():
    user = UserFactory.create()
    queue(user.pk, key="test:a")
    queue(user.pk, key="test:b")
    first, second = EmailNotification.objects.order_by("id")

    one = notification_message(notification=first).message()["Message-ID"]
    assert one == notification_message(notification=first).message()["Message-ID"]
    assert one == mail.outbox[0].message()["Message-ID"]
    assert one != notification_message(notification=second).message()["Message-ID"]
    assert one.endswith("@example.com>")
