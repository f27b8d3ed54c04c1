"""GET /api/v1/statements/ runs a fixed number of queries, however many statements are listed
(timings are benchmarks' business, bench/api_load.py; the count is locked in here)."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.models import Role
from ledger.statements import statement_generate
from tests.factories import user_with_role

pytestmark = pytest.mark.django_db

URL = "/api/v1/statements/"


def test_the_statement_list_takes_a_fixed_number_of_queries(
    client_for, books, django_assert_num_queries
):
    finance = client_for(user_with_role(Role.FINANCE_STAFF))
    with django_assert_num_queries(4):  # token, access, count, statements with partners
        few = finance.get(URL)
    for month in range(1, 7):
        statement_generate(partner=books["north"], period=dt.date(2026, month, 1))
        statement_generate(partner=books["south"], period=dt.date(2026, month, 1))

    with django_assert_num_queries(4):  # token, access, count, statements with partners
        many = finance.get(URL)

    assert few.status_code == many.status_code == 200
    assert many.json()["count"] > few.json()["count"] >= 2
