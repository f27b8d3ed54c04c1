"""Views with IdempotentMutationsMixin document the header and its answers in the schema."""

from __future__ import annotations

import io
from typing import Any

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    out = io.StringIO()
    call_command(
        "spectacular",
        "--urlconf",
        "tests.idempotency.urls",
        "--validate",
        "--fail-on-warn",
        stdout=out,
    )
    loaded: dict[str, Any] = yaml.safe_load(out.getvalue())
    return loaded


def header_parameters(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}


ERROR_REF = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


@pytest.mark.parametrize(
    ("path", "method", "success"),
    [
        ("/test/idempotency/partners", "post", "201"),
        ("/test/idempotency/partners/{partner_id}", "put", "200"),
        ("/test/idempotency/partners/{partner_id}", "delete", "204"),
        ("/test/idempotency/users", "post", "201"),
    ],
)
def test_unsafe_operations_document_the_idempotency_key(schema, path, method, success):
    operation = schema["paths"][path][method]

    header = header_parameters(operation)["Idempotency-Key"]
    assert header.get("required", False) is False
    assert header["schema"]["maxLength"] == 255
    assert "idempotency_key_reused" in header["description"]
    responses = operation["responses"]
    for code in ("400", "409", "422"):
        assert responses[code]["content"] == ERROR_REF, code
    assert "in progress" in responses["409"]["description"]
    assert "different parameters" in responses["422"]["description"]
    assert "Idempotent-Replayed" in responses[success]["headers"]


def test_safe_operations_do_not(schema):
    operation = schema["paths"]["/test/idempotency/partners/{partner_id}"]["get"]

    assert "Idempotency-Key" not in header_parameters(operation)
    assert not {"409", "422"} & set(operation["responses"])
    assert "headers" not in operation["responses"]["200"]
