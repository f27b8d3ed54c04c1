"""Query strings the API cannot read are a 400 in the error format, never silently ignored
(found by the schema fuzzer, tests/fuzz): pagination's ?limit= and ?offset= outside the
documented range, an empty filter value (DRF reads a QueryDict like an HTML form, where an
empty value means "not given"), a boolean filter that is not a boolean."""

from __future__ import annotations

import pytest

from accounts.models import Role
from tests.api_assertions import assert_error
from tests.factories import EmployerFactory, user_with_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client_for):
    return client_for(user_with_role(Role.OPERATOR_ADMIN))


@pytest.mark.parametrize(
    "query",
    ["limit=false", "limit=0", "limit=-1", "limit=1001", "limit=", "offset=null", "offset=-1"],
)
def test_unreadable_pagination_is_a_400(operator, query):
    error = assert_error(operator.get(f"/api/v1/employers/?{query}"), 400, "invalid")

    assert set(error["details"]) == {query.split("=")[0]}


def test_pagination_in_range_is_read(operator):
    EmployerFactory.create_batch(3)

    page = operator.get("/api/v1/employers/?limit=2&offset=1").json()

    assert page["count"] == 3
    assert len(page["results"]) == 2


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/statements/?status=", "status"),
        ("/api/v1/ledger/accounts/?as_of=", "as_of"),
        ("/api/v1/invoices/?search=", "search"),
        ("/api/v1/employers/{employer}/roster/?ordering=", "ordering"),
        ("/api/v1/employers/{employer}/enrollments/?open=", "open"),
        ("/api/v1/employers/{employer}/enrollments/?open=maybe", "open"),
    ],
)
def test_an_empty_or_unreadable_filter_is_a_400(operator, path, field):
    employer = EmployerFactory.create()

    response = operator.get(path.format(employer=employer.pk))

    error = assert_error(response, 400, "invalid")
    assert set(error["details"]) == {field}


def test_paginated_lists_document_the_400(operator):
    schema = operator.get("/api/schema/?format=json").json()

    for path in ("/api/v1/employers/", "/api/v1/me/invoices/", "/api/v1/partners/"):
        assert "400" in schema["paths"][path]["get"]["responses"], path


@pytest.mark.parametrize(("period", "status"), [("0000-01", 400), ("0001-01", 200)])
def test_a_statement_month_of_year_zero_is_a_400_not_a_500(client_for, period, status):
    finance = client_for(user_with_role(Role.FINANCE_STAFF))

    response = finance.get(f"/api/v1/statements/?period={period}")

    assert response.status_code == status, response.content
    if status == 400:
        assert set(assert_error(response, 400, "invalid")["details"]) == {"period"}


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/employers/{employer}/roster/history/?entry=1&entry=22", "entry"),
        ("/api/v1/statements/?status=draft&status=approved", "status"),
        ("/api/v1/employers/?limit=1&limit=2", "limit"),
    ],
)
def test_a_parameter_given_twice_is_a_400(operator, path, field):
    employer = EmployerFactory.create()

    response = operator.get(path.format(employer=employer.pk))

    error = assert_error(response, 400, "invalid")
    assert error["details"] == {
        field: [{"message": "Give this parameter once.", "code": "invalid"}]
    }


@pytest.mark.parametrize("accept", ["(|$k110", "text/html", "application/xml;q=1"])
def test_an_accept_header_that_cannot_be_met_still_gets_json(operator, accept):
    response = operator.get("/api/v1/employers/", HTTP_ACCEPT=accept)

    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["count"] == 0
