"""Applying Stripe's view of a dispute: forward only, one signal per real change, in any order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from billing.models import Dispute, DisputeStatus, Payment, PaymentStatus
from billing.services import dispute_sync_from_stripe
from billing.signals import dispute_closed, dispute_opened
from billing.stripe_gateway import StripeDisputeSnapshot
from tests.billing.factories import member_customer, member_invoice

pytestmark = pytest.mark.django_db


def snapshot(
    status: str, *, charge: str = "ch_paid", dispute: str = "dp_1"
) -> StripeDisputeSnapshot:
    return StripeDisputeSnapshot.from_dict(
        {
            "id": dispute,
            "charge": charge,
            "payment_intent": None,
            "amount": 900,
            "currency": "usd",
            "status": status,
            "reason": "fraudulent",
            "created": 1_800_000_000,
        }
    )


@pytest.fixture
def payment() -> Payment:
    invoice = member_invoice(member_customer(), 900)
    return Payment.objects.create(
        invoice=invoice,
        status=PaymentStatus.SUCCEEDED,
        amount_cents=900,
        currency="usd",
        stripe_charge_id="ch_paid",
    )


@pytest.fixture
def sent() -> Iterator[list[tuple[str, str]]]:
    seen: list[tuple[str, str]] = []

    def opened(sender: Any, *, dispute: Dispute, **kwargs: Any) -> None:
        seen.append(("opened", dispute.status))

    def closed(sender: Any, *, dispute: Dispute, **kwargs: Any) -> None:
        seen.append(("closed", dispute.status))

    dispute_opened.connect(opened, dispatch_uid="test.opened")
    dispute_closed.connect(closed, dispatch_uid="test.closed")
    yield seen
    dispute_opened.disconnect(dispatch_uid="test.opened")
    dispute_closed.disconnect(dispatch_uid="test.closed")


def test_statuses_only_move_forward_and_signal_once(payment, sent):
    for status in ["needs_response", "needs_response", "under_review", "needs_response"]:
        dispute_sync_from_stripe(snapshot=snapshot(status))
    dispute = Dispute.objects.get()
    assert (dispute.payment_id, dispute.status, dispute.closed_at) == (
        payment.pk,
        DisputeStatus.UNDER_REVIEW,
        None,
    )
    assert dispute.opened_at == dt.datetime.fromtimestamp(1_800_000_000, tz=dt.UTC)

    for status in ["lost", "won", "under_review", "lost"]:
        dispute_sync_from_stripe(snapshot=snapshot(status))

    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.LOST
    assert dispute.closed_at is not None
    assert sent == [("opened", "needs_response"), ("closed", "lost")]


def test_the_close_arriving_first_opens_and_closes(payment, sent):
    dispute_sync_from_stripe(snapshot=snapshot("won"))
    dispute_sync_from_stripe(snapshot=snapshot("needs_response"))
    assert Dispute.objects.get().status == DisputeStatus.WON
    assert sent == [("opened", "won"), ("closed", "won")]


def test_a_dispute_is_found_by_payment_intent_too(payment, sent):
    Payment.objects.filter(pk=payment.pk).update(
        stripe_charge_id="", stripe_payment_intent_id="pi_1"
    )
    data = {**snapshot("needs_response", charge="ch_other").__dict__}
    found = dispute_sync_from_stripe(
        snapshot=StripeDisputeSnapshot(**{**data, "payment_intent_id": "pi_1"})
    )
    assert found is not None
    assert found.payment_id == payment.pk


def test_a_charge_not_made_here_is_ignored(payment, sent):
    assert dispute_sync_from_stripe(snapshot=snapshot("needs_response", charge="ch_x")) is None
    assert not Dispute.objects.exists()
    assert sent == []
