"""Schema fuzzing (issue 9): schemathesis generates requests for every operation of the
project's own OpenAPI schema, valid ones (positive) and invalid ones (negative), as each role,
against a seeded data set whose ids it is given as path parameters, and checks each response:
no 5xx, only documented status codes and content types, bodies that match the schema, invalid
input refused with a 4xx, every error in the one error format.

`FUZZ_EXAMPLES` sets max_examples per operation, role and mode (6 in the test command,
derandomized under CI=true); README "Reliability" gives the heavier run. The figures
(operations, cases, statuses per role and mode) are printed at the end of the run."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation, BaseSchema

from tests.fuzz.harness import CHECKS, DERANDOMIZE, EXAMPLES, TALLIES, Tally, schema_for_role
from tests.fuzz.world import ROLES, FuzzWorld, employer_scoped_path_values

pytestmark = pytest.mark.django_db(transaction=True)

AnyOperation = APIOperation[Any, Any, Any, Any]
REVOKE = ("DELETE", "/api/v1/auth/token/")

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=DERANDOMIZE,
    phases=[Phase.explicit, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)


def operation_fuzz(
    operation: AnyOperation, *, mode: GenerationMode, world: FuzzWorld, tally: Tally
) -> None:
    """Run max_examples generated cases of one operation; half of the time (when the path has
    parameters) with the ids of real objects."""
    real_ids = employer_scoped_path_values(world, operation.path)
    strategy = operation.as_strategy(generation_mode=mode)
    if real_ids:
        strategy = st.one_of(
            operation.as_strategy(generation_mode=mode, path_parameters=real_ids), strategy
        )

    @FUZZ_SETTINGS
    @given(case=strategy)
    def run(case: Case[Any]) -> None:
        response = case.call()
        tally.record(operation.label, response.status_code)
        case.validate_response(response, checks=CHECKS)

    run()


def operations_token_revocation_last(schema: BaseSchema) -> list[AnyOperation]:
    """Every operation, the one that revokes the caller's token (DELETE /auth/token/) last."""
    operations = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    return sorted(operations, key=lambda op: (op.method.upper(), op.path) == REVOKE)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("role", ROLES)
def test_every_operation_holds_under_generated_input(
    role: str, mode: GenerationMode, fuzz_schema_raw: dict[str, Any], fuzz_world: FuzzWorld
):
    schema = schema_for_role(fuzz_schema_raw, fuzz_world.tokens.get(role))
    tally = TALLIES.setdefault(("stateless", role, mode.value), Tally())
    failures: dict[str, str] = {}
    for operation in operations_token_revocation_last(schema):
        try:
            operation_fuzz(operation, mode=mode, world=fuzz_world, tally=tally)
        except (Exception, BaseExceptionGroup) as exc:
            failures[operation.label] = f"{type(exc).__name__}: {exc}"
    assert not failures, f"{len(failures)} operations failed as {role} ({mode.value}):\n\n" + (
        "\n\n".join(f"=== {label}\n{message}" for label, message in failures.items())
    )
