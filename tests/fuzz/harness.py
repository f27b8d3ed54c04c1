"""Schemathesis wiring for the fuzz tests: the project's own OpenAPI schema, loaded through
Django's WSGI app and called in-process; one bearer token per role; the checks every response
must pass (schemathesis' own plus the one error format); a tally of what was generated."""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from django.core.wsgi import get_wsgi_application
from schemathesis.auths import AuthStorage
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

AnyCase = schemathesis.Case[Any]

# max_examples per operation, role and mode in the test command; FUZZ_EXAMPLES=500 for a
# heavier search. Under CI=true the examples are derandomized (the same ones every run).
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
STATEFUL_EXAMPLES = int(os.environ.get("FUZZ_STATEFUL_EXAMPLES", "12"))  # scenarios per role
DERANDOMIZE = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

SCHEMA_PATH = "/api/schema/?format=json"


class ErrorFormatError(AssertionError):
    pass


def error_format_conformance(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: AnyCase
) -> bool | None:
    """Every 4xx/5xx is JSON in the one error format: {"error": {"code", "message", "details"}}
    with a non-empty string code and message and an object of details, and nothing else."""
    if response.status_code < 400:
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    if not content_type.startswith("application/json"):
        raise ErrorFormatError(
            f"{response.status_code} answered with {content_type!r}, not application/json"
        )
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise ErrorFormatError(f"{response.status_code} body is not JSON: {exc}") from None
    error = body.get("error") if isinstance(body, dict) else None
    if (
        not isinstance(error, dict)
        or set(body) != {"error"}
        or set(error) != {"code", "message", "details"}
        or not (isinstance(error["code"], str) and error["code"])
        or not (isinstance(error["message"], str) and error["message"])
        or not isinstance(error["details"], dict)
    ):
        raise ErrorFormatError(
            f"{response.status_code} body is not in the error format: {response.content[:300]!r}"
        )
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    error_format_conformance,
]


@dataclass
class BearerToken:
    """A schemathesis auth provider that sends one role's token with every request (except
    where a negative case deliberately breaks the credentials)."""

    token: str

    def get(self, case: AnyCase, ctx: schemathesis.AuthContext) -> str:
        return self.token

    def set(self, case: AnyCase, data: str, ctx: schemathesis.AuthContext) -> None:
        case.headers["Authorization"] = f"Bearer {data}"


def schema_raw_load() -> dict[str, Any]:
    """The schema exactly as /api/schema/ publishes it."""
    schema = schemathesis.openapi.from_wsgi(SCHEMA_PATH, get_wsgi_application())
    return dict(schema.raw_schema)


def schema_for_role(raw: dict[str, Any], token: str | None) -> OpenApiSchema:
    """A schemathesis schema calling the WSGI app in-process, with `token` as its credentials
    (none for anonymous)."""
    schema = schemathesis.openapi.from_dict(raw)
    schema.app = get_wsgi_application()
    if token is not None:
        schema.auth = AuthStorage(providers=[BearerToken(token)])
    return schema


@dataclass
class Tally:
    """What one run generated: operations, cases and the statuses they got."""

    operations: set[str] = field(default_factory=set)
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    links_followed: Counter[str] = field(default_factory=Counter)  # stateful: link -> times
    searches_cut_short: int = 0  # stateful: Hypothesis stopped on diverging replays

    def record(self, label: str, status_code: int) -> None:
        self.operations.add(label)
        self.cases += 1
        self.statuses[status_code] += 1

    def summary(self) -> str:
        statuses = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items()))
        summary = f"{len(self.operations)} operations, {self.cases} cases ({statuses})"
        if self.links_followed:
            followed = sum(self.links_followed.values())
            summary += f"; {followed} link steps over {len(self.links_followed)} links"
        if self.searches_cut_short:
            summary += f"; search cut short {self.searches_cut_short}x (diverging replays)"
        return summary


# (kind, role, mode) -> tally; printed at the end of the session by tests/fuzz/conftest.py
TALLIES: dict[tuple[str, str, str], Tally] = {}
