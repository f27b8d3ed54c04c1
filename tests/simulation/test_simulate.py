"""The seeded simulation (`manage.py simulate`, simulation/) at a small size: it runs through the
real services, the Stripe emulator and the webhook intake with faults injected, every invariant
holds, the same seed gives the same books in a wiped database and another seed other books; the
invariant checks catch broken books; a database holding data is refused without --reset.

The full size is documented in README.md ("Reliability"); `SIMULATION_MEMBERS`,
`SIMULATION_EMPLOYERS` and `SIMULATION_MONTHS` run this test bigger."""

from __future__ import annotations

import io
import os
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.models import Invoice, InvoiceStatus, Payment, PaymentStatus
from simulation.invariants import books_balance_check, no_duplicates_check, nothing_stuck_check
from tests.factories import EmployerFactory

pytestmark = pytest.mark.django_db(transaction=True)

SIZE = [
    "--members",
    os.environ.get("SIMULATION_MEMBERS", "30"),
    "--employers",
    os.environ.get("SIMULATION_EMPLOYERS", "2"),
    "--months",
    os.environ.get("SIMULATION_MONTHS", "3"),
    # more faults than by default, so that each kind happens at this size
    "--stripe-fault-share",
    "0.5",
    "--worker-kill-share",
    "0.1",
]
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
    first = simulate("--seed", "7")
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

    again = simulate("--seed", "7", "--reset")
    other = simulate("--seed", "8", "--reset")

    [digest] = DIGEST.findall(first)
    assert DIGEST.findall(again) == [digest], again
    assert DIGEST.findall(other) != [digest], other

    # The checks catch broken books: a second succeeded payment of a paid invoice (a double
    # charge, with no ledger entry of its own).
    assert books_balance_check().ok
    assert no_duplicates_check(stripe_claims={}).ok
    paid = Invoice.objects.filter(status=InvoiceStatus.PAID).order_by("id").first()
    assert paid is not None
    Payment.objects.create(
        invoice=paid, status=PaymentStatus.SUCCEEDED, amount_cents=1, currency="usd"
    )
    result = no_duplicates_check(stripe_claims={str(paid.pk): 2})
    assert not result.ok
    assert "invoices charged twice: 1" in result.figures, result.figures
    assert "payments without their one entry: 1" in result.figures, result.figures
    assert "local invoices with more than one Stripe invoice: 1" in result.figures, result.figures
    assert nothing_stuck_check().ok


def test_a_database_with_billing_data_is_refused_without_reset():
    EmployerFactory.create()
    with pytest.raises(CommandError, match="already holds billing data"):
        simulate("--seed", "3")
