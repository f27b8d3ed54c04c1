"""Every route of one employer, called by an admin of another employer, is a 404, for every
method it has, whatever the body: found by walking the URL configuration, so a new employer
route is covered the day it is added (and a route with an object this test does not know how
to make fails here until it is taught)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import Role
from accounts.services import role_grant
from billing.models import BillingCustomer, CollectionMethod, Invoice
from employers.models import Employer, EmployerInvoice, RosterImport
from tests.employers.factories import ContractFactory, EmployerFactory, RosterEntryFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

EMPLOYER_ROUTE = re.compile(r"^api/v1/employers/<int:(employer_id|pk)>/")
METHODS = ("get", "post", "put", "patch", "delete")


def routes(patterns: list[Any] | None = None, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(route, view class) of every URL pattern, with the prefixes of its includes."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            view = getattr(pattern.callback, "view_class", None)
            yield prefix + str(pattern.pattern), view


def employer_routes() -> list[tuple[str, Any]]:
    return sorted((route, view) for route, view in routes() if EMPLOYER_ROUTE.match(route) and view)


@pytest.fixture
def acme_objects() -> dict[str, int]:
    """One of each kind of object of employer Acme, by the path segment naming its kind."""
    acme = EmployerFactory.create(name="Acme")
    contract = ContractFactory.create(employer=acme)
    entry = RosterEntryFactory.create(employer=acme)
    customer = BillingCustomer.objects.create(employer=acme, email="ap@acme.example")
    invoice = Invoice.objects.create(
        customer=customer,
        collection_method=CollectionMethod.SEND_INVOICE,
        days_until_due=30,
        total_cents=2000,
    )
    employer_invoice = EmployerInvoice.objects.create(
        employer=acme, period="2026-05-01", invoice=invoice
    )
    roster_import = RosterImport.objects.create(employer=acme, file_sha256="0" * 64, content=b"")
    return {
        "employers": acme.pk,
        "contracts": contract.pk,
        "roster": entry.pk,
        "invoices": employer_invoice.pk,  # employer invoices are addressed by their own id
        "imports": roster_import.pk,
    }


def fill(route: str, objects: dict[str, int]) -> str:
    """The route with each parameter replaced by the id of Acme's object of that kind (the kind
    is the path segment just before the parameter)."""
    parts = route.split("/")
    for index, part in enumerate(parts):
        if part.startswith("<"):
            kind = parts[index - 1]
            assert kind in objects, f"{route}: teach this test to make a {kind!r} object"
            parts[index] = str(objects[kind])
    return "/" + "/".join(parts)


def test_the_walk_finds_every_kind_of_employer_route():
    found = {route for route, _ in employer_routes()}
    for expected in ("roster/", "invoices/", "contracts/", "enrollments/", "roster/history/"):
        assert any(route.endswith(f">/{expected}") for route in found), expected


def test_an_admin_of_another_employer_gets_404_on_every_route_and_method(client_for, acme_objects):
    globex = EmployerFactory.create(name="Globex")
    intruder = UserFactory.create()
    role_grant(user=intruder, role=Role.EMPLOYER_ADMIN, employer=globex)
    client = client_for(intruder)
    checked = []
    for route, view in employer_routes():
        url = fill(route, acme_objects)
        for method in METHODS:
            if not hasattr(view, method):
                continue
            response = getattr(client, method)(url, {"effective_date": "2026-06-30"}, format="json")
            checked.append((method.upper(), url, response.status_code))
    refused = [(m, u, s) for m, u, s in checked if s != 404]
    assert refused == []
    assert len(checked) >= 12
    assert Employer.objects.count() == 2  # nothing was created either
