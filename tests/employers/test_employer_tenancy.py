"""Every route of one employer, called by an admin of another employer, is a 404, for every
method it has, whatever the body: found by walking the URL configuration, so a new employer
route is covered the day it is added (and a route with an object this test does not know how
to make fails here until it is taught)."""

from __future__ import annotations

import re

import pytest

from accounts.models import Role
from accounts.services import role_grant
from billing.models import BillingCustomer, CollectionMethod, Invoice
from employers.models import Employer, EmployerInvoice, RosterImport
from tests.employers.factories import ContractFactory, EmployerFactory, RosterEntryFactory
from tests.factories import UserFactory
from tests.url_routes import Route, route_fill, url_routes

pytestmark = pytest.mark.django_db

EMPLOYER_ROUTE = re.compile(r"^api/v1/employers/<int:(employer_id|pk)>/")


def employer_routes() -> list[Route]:
    return sorted(
        (r for r in url_routes() if EMPLOYER_ROUTE.match(r.route) and r.view_class),
        key=lambda r: r.route,
    )


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

    def object_id(name: str, kind: str) -> int:
        assert kind in objects, f"{route}: teach this test to make a {kind!r} object"
        return objects[kind]

    return route_fill(route, object_id)


def test_the_walk_finds_every_kind_of_employer_route():
    found = {r.route for r in employer_routes()}
    for expected in ("roster/", "invoices/", "contracts/", "enrollments/", "roster/history/"):
        assert any(route.endswith(f">/{expected}") for route in found), expected


def test_an_admin_of_another_employer_gets_404_on_every_route_and_method(client_for, acme_objects):
    globex = EmployerFactory.create(name="Globex")
    intruder = UserFactory.create()
    role_grant(user=intruder, role=Role.EMPLOYER_ADMIN, employer=globex)
    client = client_for(intruder)
    checked = []
    for route in employer_routes():
        url = fill(route.route, acme_objects)
        for method in route.methods:
            response = getattr(client, method.lower())(
                url, {"effective_date": "2026-06-30"}, format="json"
            )
            checked.append((method, url, response.status_code))
    refused = [(m, u, s) for m, u, s in checked if s != 404]
    assert refused == []
    assert len(checked) >= 12
    assert Employer.objects.count() == 2  # nothing was created either
