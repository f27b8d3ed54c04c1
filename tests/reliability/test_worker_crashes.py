"""A real Celery worker SIGKILLed in the middle of a bill run and of a Stripe push.

Two kinds of kill, one after the other in each job:
- `pool_child`: the pool process running the task dies; the worker sees it and, because the
  task is `acks_late` + `reject_on_worker_lost`, puts the message back at once; a new pool
  process runs it again.
- `whole_worker`: the worker and its pool die together (a lost machine); nothing is
  acknowledged or put back, and Redis hands the message to the next worker once the broker's
  visibility timeout (CELERY_BROKER_VISIBILITY_TIMEOUT_SECONDS, 4 s here) has passed.

The worker runs against the test database (the tests commit: transaction=True), a private
Redis broker (tests/redis_process.py) and the Stripe emulator. After recovery: every
membership renewed once, every invoice in Stripe once and charged once, the ledger balanced,
the outbox empty (tests/reliability/recovery_checks.py).

Sizes are small for CI; CRASH_TEST_MEMBERSHIPS / CRASH_TEST_INVOICES raise them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from billing.models import Invoice, InvoiceLine, InvoiceLineKind, StripeCommand, StripeCommandStatus
from config import clock
from config.celery import app
from memberships.models import Membership
from memberships.periods import add_months
from tests.billing.factories import member_customer, member_invoice
from tests.celery_worker_process import CeleryWorkers, task_send, worker_environment
from tests.emulator_process import EmulatorProcess
from tests.memberships.factories import active_membership
from tests.redis_process import RedisProcess
from tests.reliability.recovery_checks import (
    PUSH_TASK,
    assert_recovered,
    beat_until_drained,
    outbox_unfinished,
    paid_invoices,
    wait_for,
)

# The crash tests commit (transaction=True) so that the worker processes see their rows.
commits = pytest.mark.django_db(transaction=True)

MEMBERSHIPS = int(os.environ.get("CRASH_TEST_MEMBERSHIPS", "60"))
INVOICES = int(os.environ.get("CRASH_TEST_INVOICES", "24"))
BILL_RUN_CHUNK = 5
VISIBILITY_TIMEOUT_SECONDS = 8  # longer than any one task here, as in production
LEASE_SECONDS = 3
PUSH_RUN_SECONDS = 5
BILL_RUN = "memberships.tasks.memberships_renew_due_task"
PUSH = PUSH_TASK


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RedisProcess]:
    with RedisProcess(data_dir=tmp_path / "redis") as server:
        yield server


@pytest.fixture
def workers(
    tmp_path: Path, broker: RedisProcess, stripe_emulator: EmulatorProcess
) -> Iterator[CeleryWorkers]:
    """Workers on the private broker, the test database and the emulator; killed at the end
    (before the database is flushed)."""
    environment = worker_environment(
        broker_url=broker.url(0),
        stripe_api_base=stripe_emulator.api_base,
        CELERY_BROKER_VISIBILITY_TIMEOUT_SECONDS=str(VISIBILITY_TIMEOUT_SECONDS),
        STRIPE_MAX_REQUESTS_PER_SECOND="500",  # the shared throttle, in the private Redis
        STRIPE_OUTBOX_LEASE_SECONDS=str(LEASE_SECONDS),
        STRIPE_OUTBOX_RUN_SECONDS=str(PUSH_RUN_SECONDS),
        STRIPE_OUTBOX_BACKOFF_BASE_SECONDS="0.05",
        STRIPE_OUTBOX_BACKOFF_MAX_SECONDS="0.5",
        BILL_RUN_CHUNK_SIZE=str(BILL_RUN_CHUNK),
    )
    started = CeleryWorkers(log_dir=tmp_path / "workers", environment=environment)
    yield started
    started.kill_all()


def due_memberships(count: int) -> list[Membership]:
    """`count` monthly memberships whose period was last month: all due today."""
    last_month = add_months(clock.today().replace(day=1), -1)
    return [active_membership(code="prime_monthly", start=last_month) for _ in range(count)]


@commits
def test_a_bill_run_killed_twice_midway_renews_and_charges_everyone_once(
    workers, broker, stripe_emulator
):
    memberships = due_memberships(MEMBERSHIPS)
    this_month = clock.today().replace(day=1)
    first = workers.start()

    task_id = task_send(broker_url=broker.url(0), task_name=BILL_RUN)
    wait_for(
        lambda: Invoice.objects.count() >= 2 * BILL_RUN_CHUNK,
        timeout=60,
        what="two chunks of the bill run to commit",
        poll=0.01,  # a chunk commits in a few tens of milliseconds: kill before the run ends
    )
    first.kill_pool_child()  # the worker requeues the task; a new pool process redoes it
    at_child_kill = Invoice.objects.count()
    wait_for(
        lambda: Invoice.objects.count() >= at_child_kill + BILL_RUN_CHUNK,
        timeout=60,
        what="the requeued bill run to commit another chunk",
        poll=0.01,
    )
    first.kill()  # the whole worker: the broker redelivers after its visibility timeout
    at_worker_kill = Invoice.objects.count()
    assert at_child_kill < at_worker_kill < MEMBERSHIPS, "the kills did not land midway"

    second = workers.start(concurrency=2)
    wait_for(lambda: second.succeeded(task_id), timeout=60, what="the bill run to be redone")
    received = first.received(BILL_RUN)[task_id] + second.received(BILL_RUN)[task_id]
    assert received >= 3  # delivered, requeued by the worker, redelivered by the broker

    # Every membership renewed exactly once: one fee line for this month, the period moved.
    assert Invoice.objects.count() == MEMBERSHIPS
    assert (
        InvoiceLine.objects.filter(kind=InvoiceLineKind.MEMBERSHIP_FEE, period_start=this_month)
        .values("membership")
        .distinct()
        .count()
        == MEMBERSHIPS
    )
    assert set(
        Membership.objects.filter(pk__in=[m.pk for m in memberships]).values_list(
            "current_period_start", flat=True
        )
    ) == {this_month}

    # Then the pusher, queued as beat would, sends everything to Stripe.
    ticks = beat_until_drained(broker_url=broker.url(0), worker=second, ticks=40)
    recovery = assert_recovered(stripe_emulator, invoices=MEMBERSHIPS)
    sys.stdout.write(
        f"\n[bill run of {MEMBERSHIPS}: pool process killed at {at_child_kill}, whole worker "
        f"at {at_worker_kill} invoices; task received {received}x; {ticks} push ticks] {recovery}\n"
    )


@commits
def test_a_stripe_push_killed_twice_midway_lands_every_invoice_once(
    workers, broker, stripe_emulator
):
    customers = [member_customer() for _ in range(max(INVOICES // 4, 1))]
    for n in range(INVOICES):
        member_invoice(customers[n % len(customers)], 900 + n)
    stripe_emulator.configure(latency_ms=40)  # each Stripe step takes a while: kill mid-batch
    first = workers.start()

    task_id = task_send(broker_url=broker.url(0), task_name=PUSH)
    wait_for(lambda: paid_invoices() >= 3, timeout=60, what="a few invoices to be paid")
    first.kill_pool_child()
    at_child_kill = paid_invoices()
    in_flight = in_progress_commands()
    wait_for(
        lambda: paid_invoices() >= at_child_kill + 3,
        timeout=60,
        what="the requeued push to pay a few more",
    )
    first.kill()
    at_worker_kill = paid_invoices()
    in_flight += in_progress_commands()
    assert at_child_kill < at_worker_kill < INVOICES, "the kills did not land mid-batch"
    assert len(in_flight) >= 2, "a kill found no command in progress"

    second = workers.start(concurrency=2)
    wait_for(
        lambda: second.succeeded(task_id),
        timeout=60,
        what="the push task to be redelivered and run",
    )
    received = first.received(PUSH)[task_id] + second.received(PUSH)[task_id]
    assert received >= 3
    ticks = beat_until_drained(broker_url=broker.url(0), worker=second, ticks=20)
    assert outbox_unfinished() == {}
    recovery = assert_recovered(stripe_emulator, invoices=INVOICES)
    sys.stdout.write(
        f"\n[Stripe push of {INVOICES} invoices: pool process killed at {at_child_kill} paid, "
        f"whole worker at {at_worker_kill}; {len(in_flight)} commands claimed at the kills; "
        f"task received {received}x; {ticks} push ticks] {recovery}\n"
    )


def in_progress_commands() -> list[str]:
    return [
        f"{kind} #{pk}"
        for kind, pk in StripeCommand.objects.filter(
            status=StripeCommandStatus.IN_PROGRESS
        ).values_list("kind", "id")
    ]


# Every task the project registers, and why running it twice is harmless (so it may be
# acknowledged late and put back when its worker dies) — or why it is not. A new task fails
# the test below until it is listed here.
IDEMPOTENT_TASKS = {
    "billing.tasks.stripe_outbox_push_task": "leases + stored idempotency keys per Stripe step",
    "billing.tasks.stripe_event_process_task": "an event is applied once (processed_at, row lock)",
    "billing.tasks.stripe_events_process_pending_task": "a sweep of unprocessed events",
    "billing.tasks.stripe_reconcile_task": "compares and repairs towards Stripe's state",
    "memberships.tasks.memberships_renew_due_task": "a renewed membership is no longer due",
    "memberships.tasks.memberships_renewal_reminders_task": "one reminder per membership-period",
    "employers.invoicing_tasks.employer_invoicing_run_task": "one invoice per employer-month",
    "employers.enrollment_tasks.sponsored_memberships_end_due_task": "an ended one is not due",
    "employers.tasks.roster_import_validate_task": "validation rewrites the import's results",
    "employers.tasks.roster_import_apply_task": "an applied import is not applied again",
    "ledger.tasks.ledger_recognize_task": "entries keyed by schedule and day (unique)",
    "notifications.tasks.notification_send_task": "pending-only under a row lock (SMTP may "
    "repeat an email if the worker dies between the server's accept and the commit)",
    "notifications.tasks.notifications_send_due_task": "a sweep of pending emails",
    "idempotency.tasks.idempotency_records_purge_task": "deletes what has expired",
}
NOT_IDEMPOTENT_TASKS: dict[str, str] = {}  # none today: such a task must not be redelivered


def registered_tasks() -> dict[str, Any]:
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}


def test_every_idempotent_task_is_acknowledged_late_and_put_back_when_its_worker_dies():
    tasks = registered_tasks()

    assert set(tasks) == set(IDEMPOTENT_TASKS) | set(NOT_IDEMPOTENT_TASKS), (
        "classify every task in IDEMPOTENT_TASKS or NOT_IDEMPOTENT_TASKS"
    )
    flags = {name: (task.acks_late, task.reject_on_worker_lost) for name, task in tasks.items()}
    assert {name: flags[name] for name in IDEMPOTENT_TASKS} == dict.fromkeys(
        IDEMPOTENT_TASKS, (True, True)
    )
    assert all(not flags[name][0] for name in NOT_IDEMPOTENT_TASKS)
