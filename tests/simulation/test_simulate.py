"""The seeded simulation (`manage.py simulate`, simulation/) at a small size: it runs through the
real services, the Stripe emulator and the webhook intake with faults injected; every invariant
holds; the same seed gives the same books in a wiped database (with or without faults) and
another seed other books; the invariant checks catch broken books; a database holding data is
refused without --reset.

The full size is documented in docs/reliability.md ("Seeded simulation"); `SIMULATION_MEMBERS`,
`SIMULATION_EMPLOYERS` and `SIMULATION_MONTHS` run this test bigger."""

from __future__ import annotations

import datetime as dt
import io
import os
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F

from billing.models import Invoice, StripeCommand, StripeCommandStatus
from ledger.models import Statement
from memberships.periods import add_months
from simulation.invariants import (
    no_duplicates_check,
    nothing_stuck_check,
    statements_tie_out_check,
)
from tests.factories import EmployerFactory

pytestmark = pytest.mark.django_db(transaction=True)

MONTHS = int(os.environ.get("SIMULATION_MONTHS", "3"))
SIZE = [
    "--members",
    os.environ.get("SIMULATION_MEMBERS", "30"),
    "--employers",
    os.environ.get("SIMULATION_EMPLOYERS", "2"),
    "--months",
    str(MONTHS),
]
# more faults than by default, so that each kind happens at this size
FAULTS = ["--stripe-fault-share", "0.5", "--worker-kill-share", "0.1"]
START = dt.date(2027, 1, 1)  # the command's default first day
AFTER = add_months(START, MONTHS)  # the month after the run, which closes the books
DIGEST = re.compile(r"^books digest ([0-9a-f]{64}) ", re.MULTILINE)


def simulate(*arguments: str) -> str:
    out = io.StringIO()
    call_command("simulate", *SIZE, *arguments, stdout=out)
    return out.getvalue()


@pytest.fixture(autouse=True)
def _own_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command starts its own emulator (not one a developer has running)."""
    monkeypatch.delenv("STRIPE_API_BASE", raising=False)


def test_same_seed_same_books_other_seed_other_books_and_every_invariant_holds():
    first = simulate("--seed", "7", *FAULTS)
    # the run did what it says, with faults injected, and every invariant held
    assert re.search(r"done: .*\d+ enroll, \d+ import, .*\d+ signup", first), first
    faults = re.search(
        r"faults: Stripe \d+ requests, (\d+) injected 500s, (\d+) injected 429s .*?(\d+) push "
        r"workers SIGKILLed.*?(\d+) duplicates, (\d+) held back",
        first,
    )
    assert faults is not None, first
    injected_500, injected_429, kills, duplicates, held_back = map(int, faults.groups())
    assert injected_500 + injected_429 > 0, first
    assert kills > 0, first
    assert duplicates > 0, first
    assert held_back > 0, first
    assert first.count("\nok   ") == 5, first
    assert "FAIL" not in first, first

    # The same seed in a wiped database, without faults this time: the same books (faults
    # must not change them). Another seed: other books.
    again = simulate("--seed", "7", "--no-faults", "--reset")
    other = simulate("--seed", "8", "--no-faults", "--reset")

    [digest] = DIGEST.findall(first)
    assert DIGEST.findall(again) == [digest], again
    assert DIGEST.findall(other) != [digest], other

    # The checks catch broken books: a statement whose amount due differs from what was
    # accrued, a command left in the outbox, a local invoice two Stripe invoices claim.
    assert statements_tie_out_check(first=START, last_period=AFTER).ok
    assert nothing_stuck_check().ok
    assert no_duplicates_check(stripe_claims={}).ok
    statement = Statement.objects.order_by("id").first()
    assert statement is not None
    Statement.objects.filter(pk=statement.pk).update(amount_due_cents=F("amount_due_cents") + 1)
    tie_out = statements_tie_out_check(first=START, last_period=AFTER)
    assert not tie_out.ok
    assert "accrued" in tie_out.figures, tie_out.figures
    StripeCommand.objects.filter(pk=StripeCommand.objects.order_by("id").first().pk).update(
        status=StripeCommandStatus.PENDING
    )
    assert not nothing_stuck_check().ok
    claimed_twice = Invoice.objects.order_by("id").first()
    duplicates = no_duplicates_check(stripe_claims={str(claimed_twice.pk): 2})
    assert not duplicates.ok
    assert "local invoices with more than one Stripe invoice: 1" in duplicates.figures


def test_a_database_with_billing_data_is_refused_without_reset():
    EmployerFactory.create()
    with pytest.raises(CommandError, match="already holds billing data"):
        simulate("--seed", "3")
