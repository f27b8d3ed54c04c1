from __future__ import annotations

import pytest

from accounts.models import Role
from tests.api_assertions import assert_error
from tests.factories import EmployerFactory, PartnerFactory, user_with_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def employers():
    return EmployerFactory(name="Acme"), EmployerFactory(name="Globex")


def test_employer_admin_lists_only_their_employer(client_for, employers):
    acme, _ = employers
    admin = user_with_role(Role.EMPLOYER_ADMIN, employer=acme)

    response = client_for(admin).get("/api/v1/employers/")

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [acme.id]


def test_employer_admin_reads_their_employer(client_for, employers):
    acme, _ = employers
    admin = user_with_role(Role.EMPLOYER_ADMIN, employer=acme)

    response = client_for(admin).get(f"/api/v1/employers/{acme.id}/")

    assert response.status_code == 200
    assert response.json()["name"] == "Acme"


def test_employer_admin_gets_404_for_another_employer(client_for, employers):
    acme, globex = employers
    admin = user_with_role(Role.EMPLOYER_ADMIN, employer=acme)

    response = client_for(admin).get(f"/api/v1/employers/{globex.id}/")

    assert_error(response, 404, "not_found")


def test_another_tenant_looks_exactly_like_a_missing_one(client_for, employers):
    acme, globex = employers
    client = client_for(user_with_role(Role.EMPLOYER_ADMIN, employer=acme))

    other_tenant = client.get(f"/api/v1/employers/{globex.id}/")
    missing = client.get("/api/v1/employers/999999/")

    assert other_tenant.status_code == missing.status_code == 404
    assert other_tenant.json() == missing.json()


@pytest.mark.parametrize("role", [Role.FINANCE_STAFF, Role.OPERATOR_ADMIN])
def test_staff_see_every_employer(client_for, employers, role):
    client = client_for(user_with_role(role))

    listed = client.get("/api/v1/employers/").json()

    assert {row["id"] for row in listed["results"]} == {e.id for e in employers}
    assert client.get(f"/api/v1/employers/{employers[1].id}/").status_code == 200


@pytest.mark.parametrize("role", [Role.MEMBER, Role.PARTNER_VIEWER])
def test_other_roles_are_refused_employers(client_for, employers, role):
    partner = PartnerFactory() if role == Role.PARTNER_VIEWER else None
    client = client_for(user_with_role(role, partner=partner))

    assert_error(client.get("/api/v1/employers/"), 403, "permission_denied")
    assert_error(client.get(f"/api/v1/employers/{employers[0].id}/"), 403, "permission_denied")


def test_anonymous_is_401(api_client, employers):
    assert_error(api_client.get("/api/v1/employers/"), 401, "not_authenticated")
    assert_error(api_client.get(f"/api/v1/employers/{employers[0].id}/"), 401, "not_authenticated")
