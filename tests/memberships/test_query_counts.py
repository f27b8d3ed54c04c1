"""GET /api/v1/me/membership/ runs a fixed number of queries (timings are benchmarks' business,
bench/api_load.py; the count is locked in here)."""

from __future__ import annotations

import pytest

from tests.memberships.factories import active_membership

pytestmark = pytest.mark.django_db


def test_my_membership_takes_a_fixed_number_of_queries(client_for, django_assert_num_queries):
    mine = active_membership()
    client = client_for(mine.member.user)

    with django_assert_num_queries(3):  # token, access, the membership with its price
        response = client.get("/api/v1/me/membership/")

    assert response.status_code == 200
    assert response.json()["id"] == mine.id
