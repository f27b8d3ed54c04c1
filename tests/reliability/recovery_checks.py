"""What "recovered" means after a crash or an outage, read from the database and from the Stripe
emulator: every local invoice in Stripe exactly once, charged exactly once, the books balanced,
nothing left in the outbox. Shared by the worker-crash and outage tests."""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Count, Q, Sum

from billing.models import (
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    StripeCommand,
    StripeCommandStatus,
)
from billing.stuck_work import stuck_work_find
from config import clock
from tests.celery_worker_process import CeleryWorkerProcess, task_send
from tests.emulator_process import EmulatorProcess
from tests.ledger.ledger_checks import trial_balance_cents, unbalanced_entries

ALL_OBJECTS = "1000000"  # the emulator's object listing limit: everything


def wait_for(
    condition: Callable[[], bool], *, timeout: float, what: str, poll: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def outbox_unfinished() -> dict[str, int]:
    """Commands not done, by status (empty when the outbox is drained)."""
    return dict(
        StripeCommand.objects.exclude(status=StripeCommandStatus.DONE)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )


def outbox_busy() -> bool:
    return StripeCommand.objects.filter(
        status__in=[StripeCommandStatus.PENDING, StripeCommandStatus.IN_PROGRESS]
    ).exists()


def stripe_invoices_by_local_id(emulator: EmulatorProcess) -> Counter[str]:
    """Local invoice id -> how many Stripe invoices carry it."""
    listing = emulator.objects("invoices", limit=ALL_OBJECTS)
    return Counter(str(s["metadata"].get("local_invoice_id")) for s in listing["data"])


@dataclass(frozen=True)
class Recovery:
    invoices: int
    stripe_invoices: int
    charges: int
    charged_cents: int
    commands: int
    attempts: int

    def __str__(self) -> str:
        return (
            f"{self.invoices} invoices, {self.stripe_invoices} in Stripe, {self.charges} charges "
            f"({self.charged_cents} cents), {self.commands} outbox commands done in "
            f"{self.attempts} attempts, 0 duplicates"
        )


def assert_recovered(emulator: EmulatorProcess, *, invoices: int) -> Recovery:
    """Every one of the `invoices` local invoices is in Stripe once and paid by one charge, the
    ledger balances, the outbox holds nothing pending, in progress or failed, and the stuck-work
    report is empty."""
    assert outbox_unfinished() == {}
    local_ids = {str(pk) for pk in Invoice.objects.values_list("pk", flat=True)}
    assert len(local_ids) == invoices

    in_stripe = stripe_invoices_by_local_id(emulator)
    doubled = {local_id: n for local_id, n in in_stripe.items() if n != 1}
    assert doubled == {}, f"local invoices in Stripe more than once: {doubled}"
    assert set(in_stripe) == local_ids

    charges = emulator.objects("charges", limit=ALL_OBJECTS)["data"]
    per_intent = Counter(charge["payment_intent"] for charge in charges)
    assert all(charge["status"] == "succeeded" for charge in charges)
    assert set(per_intent.values()) <= {1}, "a PaymentIntent was charged twice"
    assert len(charges) == invoices  # one charge per invoice, none more
    charged = sum(int(charge["amount"]) for charge in charges)

    assert Invoice.objects.exclude(status=InvoiceStatus.PAID).count() == 0
    succeeded = Payment.objects.filter(status=PaymentStatus.SUCCEEDED)
    assert succeeded.count() == invoices
    assert set(succeeded.values_list("stripe_payment_intent_id", flat=True)) == set(per_intent)
    totals = Invoice.objects.aggregate(total=Sum("total_cents"))["total"] or 0
    assert charged == totals  # Stripe collected exactly what the local invoices say

    assert trial_balance_cents() == 0
    assert unbalanced_entries() == []
    # Nothing would show on the stuck-work report even an hour from now, when every
    # seconds-based threshold (STUCK_*) has run out for work still waiting.
    assert stuck_work_find(now=clock.now() + dt.timedelta(hours=1)) == []

    commands = StripeCommand.objects.aggregate(n=Count("id"), attempts=Sum("attempts"))
    return Recovery(
        invoices=invoices,
        stripe_invoices=sum(in_stripe.values()),
        charges=len(charges),
        charged_cents=charged,
        commands=int(commands["n"]),
        attempts=int(commands["attempts"] or 0),
    )


def paid_invoices() -> int:
    return Invoice.objects.filter(Q(status=InvoiceStatus.PAID)).count()


def _all_succeeded(worker: CeleryWorkerProcess, task_ids: list[str]) -> bool:
    return all(worker.succeeded(task_id) for task_id in task_ids)


PUSH_TASK = "billing.tasks.stripe_outbox_push_task"


def beat_until_drained(*, broker_url: str, worker: CeleryWorkerProcess, ticks: int) -> int:
    """Queue push tasks as beat would (one per pool process per tick, the next tick when
    those finished) until the outbox is drained. Returns the ticks used."""
    for tick in range(ticks):
        if not outbox_busy():
            return tick
        sent = [
            task_send(broker_url=broker_url, task_name=PUSH_TASK) for _ in range(worker.concurrency)
        ]
        wait_for(
            functools.partial(_all_succeeded, worker, sent),
            timeout=60,
            what="the queued pushes",
        )
    assert not outbox_busy(), f"the outbox is still busy after {ticks} ticks"
    return ticks
