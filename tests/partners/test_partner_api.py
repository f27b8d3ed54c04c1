from __future__ import annotations

import pytest

from accounts.models import Role
from partners.models import Partner
from tests.api_assertions import assert_error
from tests.factories import EmployerFactory, PartnerFactory, user_with_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def partners():
    return PartnerFactory(name="Test Health North"), PartnerFactory(name="Test Health South")


def test_partner_viewer_sees_only_their_partner(client_for, partners):
    cleveland, hartford = partners
    client = client_for(user_with_role(Role.PARTNER_VIEWER, partner=cleveland))

    listed = client.get("/api/v1/partners/").json()

    assert [row["name"] for row in listed["results"]] == ["Test Health North"]
    assert client.get(f"/api/v1/partners/{cleveland.id}/").status_code == 200
    assert_error(client.get(f"/api/v1/partners/{hartford.id}/"), 404, "not_found")


def test_finance_staff_see_every_partner(client_for, partners):
    client = client_for(user_with_role(Role.FINANCE_STAFF))

    listed = client.get("/api/v1/partners/").json()

    assert listed["count"] == Partner.objects.count()  # the seeded health systems and these two
    assert {p.name for p in partners} <= {row["name"] for row in listed["results"]}


def test_employer_admin_is_refused_partners(client_for, partners):
    client = client_for(user_with_role(Role.EMPLOYER_ADMIN, employer=EmployerFactory()))

    assert_error(client.get(f"/api/v1/partners/{partners[0].id}/"), 403, "permission_denied")
