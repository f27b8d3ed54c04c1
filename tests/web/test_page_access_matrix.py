"""Every web page (found by walking the `web` URL namespace), opened by every role: the roles a
page serves get it, every other logged-in role gets the 403 page, an admin of another employer
gets a 404 for this employer's pages, and anonymous visitors are sent to the login page. A new
page with an object this test does not know how to make fails here until it is taught."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from accounts.models import Role, User
from billing.models import BillingCustomer, CollectionMethod, Invoice
from employers.models import EmployerInvoice, RosterImport
from ledger import chart
from ledger.journal import debit_credit, journal_entry_post
from ledger.models import Statement
from tests.employers.factories import ContractFactory, EmployerFactory, RosterEntryFactory
from tests.factories import PartnerFactory, user_with_role
from tests.memberships.factories import active_membership
from tests.url_routes import route_fill, url_routes

pytestmark = pytest.mark.django_db

PUBLIC = {"", "login/", "logout/"}


def web_routes() -> list[str]:
    """The route of every page in the `web` namespace (mounted at the site root)."""
    return [r.route for r in url_routes() if r.namespace == "web"]


@pytest.fixture
def world() -> dict[str, Any]:
    """Employer A with one of each object, employer B, a partner's statement, a ledger entry,
    a member's invoice, and one user per role."""
    acme = EmployerFactory.create(name="Acme")
    globex = EmployerFactory.create(name="Globex")
    ContractFactory.create(employer=acme)
    entry = RosterEntryFactory.create(employer=acme)
    roster_import = RosterImport.objects.create(employer=acme, file_sha256="0" * 64, content=b"")
    customer = BillingCustomer.objects.create(employer=acme, email="ap@acme.example")
    employer_invoice = Invoice.objects.create(
        customer=customer,
        collection_method=CollectionMethod.SEND_INVOICE,
        days_until_due=30,
        total_cents=2000,
    )
    seat_invoice = EmployerInvoice.objects.create(
        employer=acme, period="2026-05-01", invoice=employer_invoice
    )
    partner = PartnerFactory.create()
    statement = Statement.objects.create(partner=partner, period=dt.date(2026, 10, 1))
    journal_entry = journal_entry_post(
        idempotency_key="test-web-matrix",
        kind="test",
        occurred_on=dt.date(2026, 10, 5),
        postings=debit_credit(
            debit=chart.account_get(chart.CASH_STRIPE),
            credit=chart.account_get(chart.RECEIVABLE_MEMBER),
            amount_cents=100,
        ),
    )
    assert journal_entry is not None
    membership = active_membership()
    return {
        "ids": {
            "employer_id": acme.pk,
            "entry_id": entry.pk,
            "import_id": roster_import.pk,
            "invoice_id": seat_invoice.pk,  # the employer's pages address EmployerInvoice
            "statements": statement.pk,
            "entries": journal_entry.pk,
            "invoices": employer_invoice.pk,
        },
        "users": {
            "member": membership.member.user,
            "admin of A": user_with_role(Role.EMPLOYER_ADMIN, employer=acme),
            "admin of B": user_with_role(Role.EMPLOYER_ADMIN, employer=globex),
            "finance": user_with_role(Role.FINANCE_STAFF),
            "operator": user_with_role(Role.OPERATOR_ADMIN),
            "partner viewer": user_with_role(Role.PARTNER_VIEWER, partner=partner),
        },
    }


def fill(route: str, ids: dict[str, int]) -> str:
    def object_id(name: str, segment: str) -> int:
        key = name if name != "pk" else segment
        assert key in ids, f"{route}: teach this test to make a {key!r} object"
        return ids[key]

    return route_fill(route, object_id)


def expected(route: str, who: str) -> str:
    """'open', 'forbidden' (the 403 page) or 'not found' for `who` on `route`."""
    area = route.split("/")[0]
    serves = {
        "finance": {"finance", "operator"},
        "employer": {"admin of A", "operator"},
        "account": {"member"},
    }[area]
    if who in serves:
        return "open"
    if area == "employer" and who == "admin of B":
        return "not found"
    return "forbidden"


def test_every_page_answers_every_role_as_expected(world):
    routes = sorted(set(web_routes()) - PUBLIC)
    assert any(r.startswith("finance/") for r in routes)
    assert any(r.startswith("employer/") for r in routes)
    assert any(r.startswith("account/") for r in routes)
    wrong = []
    for who, user in world["users"].items():
        client = Client()
        client.force_login(user)
        for route in routes:
            response = client.get(fill(route, world["ids"]))
            outcome = {403: "forbidden", 404: "not found"}.get(response.status_code, "open")
            if response.status_code >= 500 or (
                response.status_code == 302 and response["Location"].startswith("/login/")
            ):
                outcome = f"status {response.status_code}"
            if outcome != expected(route, who):
                wrong.append((who, route, response.status_code))
    assert wrong == []


def test_anonymous_visitors_are_sent_to_log_in_on_every_page(world):
    client = Client()
    for route in sorted(set(web_routes()) - PUBLIC):
        response = client.get(fill(route, world["ids"]))
        assert response.status_code == 302, route
        assert response["Location"].startswith("/login/"), route


def test_a_page_of_another_role_is_the_403_page_not_a_json_error(world):
    client = Client()
    user: User = world["users"]["member"]
    client.force_login(user)
    response = client.get("/finance/statements/")
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
    assert "Not allowed" in response.content.decode()
