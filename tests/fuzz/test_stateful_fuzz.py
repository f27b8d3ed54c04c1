"""Stateful schema fuzzing (issue 9): schemathesis' state machine walks the OpenAPI links the
schema publishes (config/openapi_links.py) — create an employer, then its contract and roster
entries, then read, change and terminate them; upload a roster import, then read and confirm
it; list invoices, then refund or credit one and read it back; list statements, approve one,
record its payout — as each role, with the same checks on every response as the stateless
run. `FUZZ_STATEFUL_EXAMPLES` sets the number of scenarios per role."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis import Case, Response
from schemathesis.generation.stateful.state_machine import StepInput, StepOutput

from tests.fuzz.harness import (
    CHECKS,
    DERANDOMIZE,
    STATEFUL_EXAMPLES,
    TALLIES,
    Tally,
    schema_for_role,
)
from tests.fuzz.world import FuzzWorld

pytestmark = pytest.mark.django_db(transaction=True)

STATEFUL_SETTINGS = settings(
    max_examples=STATEFUL_EXAMPLES,
    stateful_step_count=12,
    deadline=None,
    database=None,
    derandomize=DERANDOMIZE,
    suppress_health_check=list(HealthCheck),
)

# Per role, the part of the API its links lead through (the rest only refuses the role, which
# the stateless run covers); anonymous and members have no linked operations to walk.
STATEFUL_SCOPES = {
    "employer_admin": r"^/api/v1/employers/",
    "finance_staff": r"^/api/v1/(invoices|statements|ledger)/",
    "operator_admin": r"^/api/v1/(employers|invoices|statements)/",
    "partner_viewer": r"^/api/v1/(statements|partners)/",
}


@pytest.mark.parametrize("role", STATEFUL_SCOPES)
def test_linked_operations_hold_in_sequence(
    role: str, fuzz_schema_raw: dict[str, Any], fuzz_world: FuzzWorld
):
    schema = schema_for_role(fuzz_schema_raw, fuzz_world.tokens[role]).include(
        path_regex=STATEFUL_SCOPES[role]
    )
    tally = TALLIES.setdefault(("stateful", role, "positive"), Tally())

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def step(self, input: StepInput) -> StepOutput:
            if input.transition is not None and input.is_applied:
                tally.links_followed[input.transition.id] += 1
            output: StepOutput = super().step(input)
            return output

        def after_call(self, response: Response, case: Case[Any]) -> None:
            super().after_call(response, case)
            tally.record(case.operation.label, response.status_code)

        def validate_response(
            self,
            response: Response,
            case: Case[Any],
            additional_checks: Any = None,
            **kwargs: Any,
        ) -> None:
            try:
                case.validate_response(
                    response, checks=CHECKS, transport_kwargs=kwargs or None, recorder=self.recorder
                )
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{case.operation.label}: {exc}")
                raise

    # Scenarios share the database, so a replayed scenario can meet other data (an employer
    # name taken by an earlier one: 409, not 201) and take other steps; Hypothesis then stops
    # with FlakyStrategyDefinition. That ends the search, not the test: every check failure
    # seen on the way is still recorded and fails it.
    failures: list[str] = []
    try:
        Machine.run(settings=STATEFUL_SETTINGS)
    except FlakyStrategyDefinition:
        tally.searches_cut_short += 1
    assert not failures, "\n\n".join(failures)
