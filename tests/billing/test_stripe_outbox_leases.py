"""The outbox's hold on a command: a worker whose lease ran out cannot overwrite the outcome of
the worker that took over, and a surprise exception puts the command back instead of wedging it."""

from __future__ import annotations

from typing import Any

import pytest

from billing.models import StripeCommand, StripeCommandStatus
from billing.stripe_gateway import StripeGateway
from billing.stripe_outbox import LeaseLostError, stripe_outbox_claim, stripe_outbox_push
from tests.billing.factories import member_customer

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_taken_over_command_belongs_to_the_new_worker_only():
    member_customer()  # queues one customer_sync command
    [first] = stripe_outbox_claim(limit=1)
    StripeCommand.objects.update(lease_expires_at="2000-01-01T00:00:00Z")  # first worker stalls

    [second] = stripe_outbox_claim(limit=1)

    assert second.command_id == first.command_id
    assert second.token != first.token
    with pytest.raises(LeaseLostError):
        first.renew()
    assert first.finish(status=StripeCommandStatus.FAILED) is False
    assert second.finish(status=StripeCommandStatus.DONE) is True
    command = StripeCommand.objects.get()
    assert (command.status, command.attempts) == (StripeCommandStatus.DONE, 2)


class ExplodingGateway(StripeGateway):
    def customer_create(self, **kwargs: Any) -> str:
        raise RuntimeError("a bug nobody foresaw")


def test_an_unexpected_exception_is_retried_later_not_left_claimed(settings):
    member_customer()
    gateway = ExplodingGateway(
        api_key="sk_test_x", api_base="http://127.0.0.1:9", timeout_seconds=1, throttle=None
    )

    report = stripe_outbox_push(run_seconds=5, gateway=gateway)

    assert (report.claimed, report.retried, report.failed) == (1, 1, 0)
    command = StripeCommand.objects.get()
    assert command.status == StripeCommandStatus.PENDING
    assert command.lease_token is None
    assert "a bug nobody foresaw" in command.last_error


def test_a_command_out_of_attempts_is_failed_for_a_person(settings):
    settings.STRIPE_OUTBOX_MAX_ATTEMPTS = 1
    member_customer()
    gateway = ExplodingGateway(
        api_key="sk_test_x", api_base="http://127.0.0.1:9", timeout_seconds=1, throttle=None
    )

    report = stripe_outbox_push(run_seconds=5, gateway=gateway)

    assert report.failed == 1
    command = StripeCommand.objects.get()
    assert command.status == StripeCommandStatus.FAILED
    assert "gave up after 1 attempts" in command.last_error
