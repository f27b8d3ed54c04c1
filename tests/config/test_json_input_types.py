"""A JSON body value of the wrong JSON type is a 400 naming the field, not coerced (found by
the schema fuzzer, tests/fuzz: `{"name": 991}` created the employer "991")."""

from __future__ import annotations

import pytest

from accounts.models import Role
from employers.models import Employer
from tests.api_assertions import assert_error
from tests.factories import user_with_role

pytestmark = pytest.mark.django_db

GOOD = {"name": "Initech", "billing_email": "ap@initech.example"}


@pytest.fixture
def operator(client_for):
    return client_for(user_with_role(Role.OPERATOR_ADMIN))


@pytest.mark.parametrize("name", [991, 9.5, True, ["Initech"], {"n": "Initech"}])
def test_a_string_field_refuses_other_json_types(operator, name):
    response = operator.post("/api/v1/employers/", {**GOOD, "name": name}, format="json")

    error = assert_error(response, 400, "invalid")
    assert error["details"] == {"name": [{"message": "Expected a string.", "code": "invalid"}]}
    assert not Employer.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("pepm_cents", "2000", "Expected an integer."),
        ("pepm_cents", True, "Expected an integer."),
        ("billing_day", 1.5, "Expected an integer."),
        ("effective_from", 20260101, "Expected a string."),
        ("contribution_kind", 1, "Not one of the choices (wrong type)."),
    ],
)
def test_integer_date_and_choice_fields_refuse_other_json_types(operator, field, value, message):
    employer = operator.post("/api/v1/employers/", GOOD, format="json").json()
    contract = {"pepm_cents": 2000, "contribution_kind": "full", "effective_from": "2026-01-01"}

    response = operator.post(
        f"/api/v1/employers/{employer['id']}/contracts/", {**contract, field: value}, format="json"
    )

    error = assert_error(response, 400, "invalid")
    assert error["details"] == {field: [{"message": message, "code": "invalid"}]}


def test_the_right_types_still_pass(operator):
    employer = operator.post("/api/v1/employers/", GOOD, format="json")
    assert employer.status_code == 201, employer.content

    contract = operator.post(
        f"/api/v1/employers/{employer.json()['id']}/contracts/",
        {"pepm_cents": 2000, "contribution_kind": "full", "effective_from": "2026-01-01"},
        format="json",
    )
    assert contract.status_code == 201, contract.content
