from __future__ import annotations

from typing import Any

import pytest

from tests.fuzz.harness import TALLIES, schema_raw_load
from tests.fuzz.world import FuzzWorld, fuzz_world_seed


@pytest.fixture(scope="session")
def fuzz_schema_raw(django_db_blocker: Any) -> dict[str, Any]:
    # The schema is read through the WSGI app, whose request_started signal checks the
    # connections an earlier test may have left open: allow that (no data is read).
    with django_db_blocker.unblock():
        return schema_raw_load()


@pytest.fixture
def fuzz_world(stripe_emulator: Any) -> FuzzWorld:
    """The seeded data set (committed: the fuzz tests are transactional, because sign-up and
    enrolment push to Stripe, the emulator, outside any transaction)."""
    return fuzz_world_seed()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TALLIES:
        return
    terminalreporter.section("schema fuzzing")
    total = 0
    for (kind, role, mode), tally in sorted(TALLIES.items()):
        terminalreporter.write_line(f"{kind:9} {role:15} {mode:9} {tally.summary()}")
        total += tally.cases
    terminalreporter.write_line(f"total: {total} cases")
