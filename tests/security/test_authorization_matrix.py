"""The authorization matrix: every route of the URL configuration (the API, the webhooks, the
web pages, the health check, the schema and its docs, and the Django admin's index), with every
method its view answers, called by every kind of caller on the objects of every tenant, and
checked against the expectation written down for it in `MATRIX` below.

Callers: anonymous, member M1, the employer admins of A and of B, the partner viewers of P and
of Q, finance staff and an operator admin. Tenants: employers A and B (their roster entries,
imports, contracts, employer invoices and invoices), partners P and Q (the partner and its
statement), members M1 and M2 (their invoices), and the books (a journal entry, staff only).
A route with an object id is called once per tenant that has that kind of object, so the admin
of A calls A's roster entry ("own") and B's ("other"). A route with two ids (an employer and an
object under it) is also called with one tenant's employer and another tenant's object: whoever
would be let in gets a 404 there.

Expectations are per route and method, keyed by the caller's role, by `role:own` / `role:other`
where the route names a tenant's object, and by `mixed:role` where a mixed call differs from
the rule above. `OK` means "let in": not 401, 403, 404 or 405, no server error, and for a page
no redirect to a login page (a 400 or a 409 is fine: the calls send a fixed body). `LOGIN` is a
redirect to a login page.

Besides the status, every answer is checked for data the caller should not see: each tenant's
objects carry marker strings, and an answer must not contain the markers of a tenant the caller
does not belong to (staff belong to all); every marker must show up somewhere to those who may
see it, so the check looks at real data. A refused POST, PUT, PATCH or DELETE must leave the
database as it was: no table's row count changes and no row is inserted, updated or deleted
(PostgreSQL's own counters for the test's transaction, `pg_stat_xact_user_tables`).

A route or method in the URL configuration without an entry fails the test, naming it, and so
does an entry whose route is gone; every operation of the OpenAPI schema must have an entry.
Adding a route is adding one line to `MATRIX` (and, for an id of a new kind, teaching
`KIND_BY_SEGMENT` and the tenants' objects about it). The Django admin's other pages are
checked on their own: each sends anonymous and non-staff callers to the admin login."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import get_resolver, path
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient
from rest_framework.views import APIView

from accounts.models import Role, User
from billing.models import BillingCustomer, CollectionMethod, Invoice
from billing.services import InvoiceLineInput, invoice_create
from employers.apis import EmployerDetailApi
from employers.enrollment import EnrollInput, employee_enroll
from employers.imports import COLUMNS, roster_import_validate
from employers.models import EmployerInvoice, RosterImport
from employers.roster import RosterEntryInput, roster_entry_add
from employers.services import employer_create
from ledger import chart
from ledger.journal import debit_credit, journal_entry_post
from ledger.models import Statement
from tests.employers.factories import ContractFactory
from tests.factories import PartnerFactory, user_with_role
from tests.memberships.factories import active_membership
from tests.url_routes import Route, route_fill, url_routes

pytestmark = pytest.mark.django_db

OK = "ok"
LOGIN = "login"
Expected = int | str

# --- who may do what -----------------------------------------------------------------------------
# Roles: anonymous, member, employer_admin, partner_viewer, finance, operator. A key `role:own`
# or `role:other` applies when the route names an object of the caller's own tenant or of
# another's; a bare role applies to every object (and to routes without one).

ANYONE: dict[str, Expected] = {
    "anonymous": OK,
    "member": OK,
    "employer_admin": OK,
    "partner_viewer": OK,
    "finance": OK,
    "operator": OK,
}
SIGNED_IN = {**ANYONE, "anonymous": 401}
MEMBER_ONLY = {
    **SIGNED_IN,
    "employer_admin": 403,
    "partner_viewer": 403,
    "finance": 403,
    "operator": 403,
}
STAFF_ONLY = {**SIGNED_IN, "member": 403, "employer_admin": 403, "partner_viewer": 403}
OPERATOR_ONLY = {**STAFF_ONLY, "finance": 403}

EMPLOYER_LIST = {**STAFF_ONLY, "employer_admin": OK}
EMPLOYER_READ = {**STAFF_ONLY, "employer_admin:own": OK, "employer_admin:other": 404}
# operator admins only, but another employer stays a 404 (the lookup comes first)
EMPLOYER_MANAGE = {**OPERATOR_ONLY, "employer_admin:own": 403, "employer_admin:other": 404}
# the same for an object under the employer, looked up before the operator check: an object
# that is not under the employer in the path is a 404 for all who may see that employer
EMPLOYER_MANAGE_OBJECT = {**EMPLOYER_MANAGE, "mixed:employer_admin": 404, "mixed:finance": 404}
# roster imports: the employer's admins and operator admins, not finance staff
ROSTER_IMPORT = {**EMPLOYER_READ, "finance": 403}

PARTNER_LIST = {**STAFF_ONLY, "partner_viewer": OK}
PARTNER_READ = {**STAFF_ONLY, "partner_viewer:own": OK, "partner_viewer:other": 404}
# finance staff and operator admins, but another partner's statement stays a 404
STATEMENT_ACTION = {**STAFF_ONLY, "partner_viewer:own": 403, "partner_viewer:other": 404}

PAGE_ANYONE = ANYONE
PAGE_SIGNED_IN = {**ANYONE, "anonymous": LOGIN}
PAGE_MEMBER = {**MEMBER_ONLY, "anonymous": LOGIN}
PAGE_FINANCE = {**STAFF_ONLY, "anonymous": LOGIN}
PAGE_EMPLOYER = {**ROSTER_IMPORT, "anonymous": LOGIN}
# a read-only employer page answers a POST with 405, once the caller and employer are checked
PAGE_EMPLOYER_READ_ONLY = {**PAGE_EMPLOYER, "employer_admin:own": 405, "operator": 405}
# logging out ends on the login page, for anyone
LOGGED_OUT: dict[str, Expected] = dict.fromkeys(ANYONE, LOGIN)
# Django's admin: superusers (the operator admins) only; everyone else is sent to its login
DJANGO_ADMIN: dict[str, Expected] = {**dict.fromkeys(ANYONE, LOGIN), "operator": OK}

EMPLOYER = "api/v1/employers/<int:employer_id>"
IMPORT = f"{EMPLOYER}/roster/imports/<int:pk>"
PAGE_EMPLOYER_ROOT = "employer/<int:employer_id>"

MATRIX: dict[tuple[str, str], dict[str, Expected]] = {
    ("healthz", "GET"): ANYONE,
    ("admin/", "GET"): DJANGO_ADMIN,
    ("api/schema/", "GET"): ANYONE,
    ("api/docs/", "GET"): ANYONE,
    ("webhooks/stripe/", "POST"): ANYONE,  # the signature is the check (a 400 without one)
    # accounts
    ("api/v1/auth/token/", "POST"): ANYONE,
    ("api/v1/auth/token/", "DELETE"): SIGNED_IN,
    ("api/v1/me/", "GET"): SIGNED_IN,
    # memberships
    ("api/v1/signup/", "POST"): ANYONE,
    ("api/v1/me/membership/", "GET"): MEMBER_ONLY,
    ("api/v1/me/membership/cancel/", "POST"): MEMBER_ONLY,
    ("api/v1/me/membership/resume/", "POST"): MEMBER_ONLY,
    ("api/v1/me/membership/change-plan/", "POST"): MEMBER_ONLY,
    ("api/v1/me/membership/convert/", "POST"): MEMBER_ONLY,
    ("api/v1/me/invoices/", "GET"): MEMBER_ONLY,
    ("api/v1/me/market/", "POST"): MEMBER_ONLY,
    ("api/v1/me/payment-method/", "POST"): MEMBER_ONLY,
    ("api/v1/enroll/", "POST"): ANYONE,
    # employers
    ("api/v1/employers/", "GET"): EMPLOYER_LIST,
    ("api/v1/employers/", "POST"): OPERATOR_ONLY,
    ("api/v1/employers/<int:pk>/", "GET"): EMPLOYER_READ,
    ("api/v1/employers/<int:pk>/", "PATCH"): EMPLOYER_MANAGE,
    ("api/v1/employers/admin-invitations/set-password/", "POST"): ANYONE,
    (f"{EMPLOYER}/contracts/", "GET"): EMPLOYER_READ,
    (f"{EMPLOYER}/contracts/", "POST"): EMPLOYER_MANAGE,
    (f"{EMPLOYER}/contracts/<int:contract_id>/end/", "POST"): EMPLOYER_MANAGE_OBJECT,
    (f"{EMPLOYER}/admins/", "POST"): EMPLOYER_MANAGE,
    (f"{EMPLOYER}/enrollments/", "GET"): EMPLOYER_READ,
    (f"{EMPLOYER}/invoices/", "GET"): EMPLOYER_READ,
    (f"{EMPLOYER}/invoices/<int:pk>/", "GET"): EMPLOYER_READ,
    # rosters
    (f"{EMPLOYER}/roster/", "GET"): EMPLOYER_READ,
    (f"{EMPLOYER}/roster/", "POST"): EMPLOYER_READ,
    (f"{EMPLOYER}/roster/history/", "GET"): EMPLOYER_READ,
    (f"{EMPLOYER}/roster/<int:entry_id>/", "GET"): EMPLOYER_READ,
    (f"{EMPLOYER}/roster/<int:entry_id>/", "PATCH"): EMPLOYER_READ,
    (f"{EMPLOYER}/roster/<int:entry_id>/terminate/", "POST"): EMPLOYER_READ,
    (f"{EMPLOYER}/roster/<int:entry_id>/history/", "GET"): EMPLOYER_READ,
    (f"{EMPLOYER}/roster/imports/", "GET"): ROSTER_IMPORT,
    (f"{EMPLOYER}/roster/imports/", "POST"): ROSTER_IMPORT,
    (f"{IMPORT}/", "GET"): ROSTER_IMPORT,
    (f"{IMPORT}/errors/", "GET"): ROSTER_IMPORT,
    (f"{IMPORT}/rows/", "GET"): ROSTER_IMPORT,
    (f"{IMPORT}/terminations/", "GET"): ROSTER_IMPORT,
    (f"{IMPORT}/confirm/", "POST"): ROSTER_IMPORT,
    # partners and their statements
    ("api/v1/partners/", "GET"): PARTNER_LIST,
    ("api/v1/partners/<int:pk>/", "GET"): PARTNER_READ,
    ("api/v1/statements/", "GET"): PARTNER_LIST,
    ("api/v1/statements/<int:pk>/", "GET"): PARTNER_READ,
    ("api/v1/statements/<int:pk>/export.csv", "GET"): PARTNER_READ,
    ("api/v1/statements/<int:pk>/export.pdf", "GET"): PARTNER_READ,
    ("api/v1/statements/<int:pk>/approve/", "POST"): STATEMENT_ACTION,
    ("api/v1/statements/<int:pk>/payout/", "POST"): STATEMENT_ACTION,
    # the books and invoices (staff)
    ("api/v1/ledger/accounts/", "GET"): STAFF_ONLY,
    ("api/v1/ledger/entries/", "GET"): STAFF_ONLY,
    ("api/v1/ledger/entries/<int:pk>/", "GET"): STAFF_ONLY,
    ("api/v1/invoices/", "GET"): STAFF_ONLY,
    ("api/v1/invoices/<int:pk>/", "GET"): STAFF_ONLY,
    ("api/v1/invoices/<int:pk>/refunds/", "POST"): STAFF_ONLY,
    ("api/v1/invoices/<int:pk>/credit-notes/", "POST"): STAFF_ONLY,
    # web pages
    ("", "GET"): PAGE_SIGNED_IN,  # sends each role to its first page
    ("login/", "GET"): PAGE_ANYONE,
    ("login/", "POST"): PAGE_ANYONE,
    ("login/", "PUT"): PAGE_ANYONE,  # Django's form view treats PUT as POST
    ("logout/", "POST"): LOGGED_OUT,
    ("account/", "GET"): PAGE_MEMBER,
    ("account/cancel/", "GET"): PAGE_MEMBER,
    ("account/cancel/", "POST"): PAGE_MEMBER,
    (f"{PAGE_EMPLOYER_ROOT}/roster/", "GET"): PAGE_EMPLOYER,
    (f"{PAGE_EMPLOYER_ROOT}/roster/", "POST"): PAGE_EMPLOYER,
    (f"{PAGE_EMPLOYER_ROOT}/roster/<int:entry_id>/terminate/", "GET"): PAGE_EMPLOYER,
    (f"{PAGE_EMPLOYER_ROOT}/roster/<int:entry_id>/terminate/", "POST"): PAGE_EMPLOYER,
    (f"{PAGE_EMPLOYER_ROOT}/roster/import/", "GET"): PAGE_EMPLOYER,
    (f"{PAGE_EMPLOYER_ROOT}/roster/import/", "POST"): PAGE_EMPLOYER,
    (f"{PAGE_EMPLOYER_ROOT}/roster/imports/<int:import_id>/", "GET"): PAGE_EMPLOYER,
    (f"{PAGE_EMPLOYER_ROOT}/roster/imports/<int:import_id>/", "POST"): PAGE_EMPLOYER_READ_ONLY,
    (f"{PAGE_EMPLOYER_ROOT}/roster/imports/<int:import_id>/confirm/", "GET"): PAGE_EMPLOYER,
    (f"{PAGE_EMPLOYER_ROOT}/roster/imports/<int:import_id>/confirm/", "POST"): PAGE_EMPLOYER,
    (f"{PAGE_EMPLOYER_ROOT}/invoices/", "GET"): PAGE_EMPLOYER,
    (f"{PAGE_EMPLOYER_ROOT}/invoices/", "POST"): PAGE_EMPLOYER_READ_ONLY,
    (f"{PAGE_EMPLOYER_ROOT}/invoices/<int:invoice_id>/", "GET"): PAGE_EMPLOYER,
    (f"{PAGE_EMPLOYER_ROOT}/invoices/<int:invoice_id>/", "POST"): PAGE_EMPLOYER_READ_ONLY,
    ("finance/statements/", "GET"): PAGE_FINANCE,
    ("finance/statements/<int:pk>/", "GET"): PAGE_FINANCE,
    ("finance/statements/<int:pk>/approve/", "GET"): PAGE_FINANCE,
    ("finance/statements/<int:pk>/approve/", "POST"): PAGE_FINANCE,
    ("finance/statements/<int:pk>/payout/", "POST"): PAGE_FINANCE,
    ("finance/ledger/", "GET"): PAGE_FINANCE,
    ("finance/ledger/entries/", "GET"): PAGE_FINANCE,
    ("finance/ledger/entries/<int:pk>/", "GET"): PAGE_FINANCE,
    ("finance/invoices/", "GET"): PAGE_FINANCE,
    ("finance/invoices/<int:pk>/", "GET"): PAGE_FINANCE,
    ("finance/invoices/<int:pk>/refund/", "POST"): PAGE_FINANCE,
}

# What the unsafe calls send: a valid body where one is easy to write, so that a caller let in
# by mistake would really change something (and the no-write check would see it); `{}` for the
# rest (a 400 for those who are let in). Bytes are sent as an uploaded file.
ROSTER_CSV = (
    ",".join(COLUMNS) + "\nZQ-NEW-2,New Importee,zq-new-importee@work.example,"
    "1992-03-04,2026-01-01,\n"
).encode()
NEW_HIRE = {
    "external_id": "ZQ-NEW-1",
    "full_name": "New Hire",
    "work_email": "new-hire@work.example",
    "date_of_birth": "1990-01-01",
    "eligible_from": "2026-01-01",
}
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("api/v1/employers/", "POST"): {"name": "Employer New", "billing_email": "ap@new.example"},
    ("api/v1/employers/<int:pk>/", "PATCH"): {"billing_email": "ap-changed@new.example"},
    (f"{EMPLOYER}/contracts/", "POST"): {
        "pepm_cents": 2500,
        "contribution_kind": "full",
        "effective_from": "2031-01-01",
    },
    (f"{EMPLOYER}/contracts/<int:contract_id>/end/", "POST"): {"effective_until": "2030-01-01"},
    (f"{EMPLOYER}/admins/", "POST"): {"email": "new-admin@new.example"},
    (f"{EMPLOYER}/roster/", "POST"): NEW_HIRE,
    (f"{EMPLOYER}/roster/<int:entry_id>/", "PATCH"): {"date_of_birth": "1990-05-18"},
    (f"{EMPLOYER}/roster/<int:entry_id>/terminate/", "POST"): {"effective_date": "2026-06-30"},
    (f"{EMPLOYER}/roster/imports/", "POST"): {"file": ROSTER_CSV},
    ("api/v1/statements/<int:pk>/payout/", "POST"): {"reference": "PAYOUT-1"},
    ("api/v1/invoices/<int:pk>/credit-notes/", "POST"): {"amount_cents": 100, "reason": "test"},
    ("api/v1/invoices/<int:pk>/refunds/", "POST"): {"amount_cents": 100, "reason": "test"},
    ("api/v1/me/membership/cancel/", "POST"): {"when": "period_end"},
    ("api/v1/me/membership/change-plan/", "POST"): {"price_code": "standard_annual"},
    ("api/v1/me/market/", "POST"): {"market": "connecticut"},
    ("api/v1/me/payment-method/", "POST"): {"payment_method_id": "pm_card_visa"},
    (f"{PAGE_EMPLOYER_ROOT}/roster/", "POST"): {  # the page's add form has the prefix `add`
        **{f"add-{name}": value for name, value in NEW_HIRE.items()},
        "add-external_id": "ZQ-NEW-3",
        "add-work_email": "web-hire@work.example",
    },
    (f"{PAGE_EMPLOYER_ROOT}/roster/<int:entry_id>/terminate/", "POST"): {
        "effective_date": "2026-06-30",
        "confirmed": "True",
    },
    (f"{PAGE_EMPLOYER_ROOT}/roster/import/", "POST"): {"file": ROSTER_CSV},
    (f"{PAGE_EMPLOYER_ROOT}/roster/imports/<int:import_id>/confirm/", "POST"): {
        "valid_rows_only": "on"
    },
    ("finance/statements/<int:pk>/payout/", "POST"): {"reference": "PAYOUT-2"},
}

# Calls that end the caller's session or token: the caller logs in again after them.
ENDS_THE_SESSION = {("api/v1/auth/token/", "DELETE"), ("logout/", "POST")}

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def routes_in_scope(routes: Iterable[Route] | None = None) -> list[Route]:
    """Every route, except the Django admin's pages past its index (Django's code, behind its
    own staff login; the index stands for them here, and a test of their own checks them)."""
    return [
        r
        for r in (url_routes() if routes is None else routes)
        if not r.route.startswith("admin/") or r.route == "admin/"
    ]


def matrix_gaps(
    routes: list[Route], matrix: dict[tuple[str, str], dict[str, Expected]]
) -> tuple[list[str], list[str]]:
    """(`METHOD /route` without an entry, entries without a route or method)."""
    found = {(r.route, m) for r in routes for m in r.methods}
    missing = sorted(f"{m} /{r}" for r, m in found - set(matrix))
    stale = sorted(f"{m} /{r}" for r, m in set(matrix) - found)
    return missing, stale


# --- the objects of each tenant ------------------------------------------------------------------

# The kind of object a route parameter names, by the path segment before it.
KIND_BY_SEGMENT = {
    "employers": "employer",
    "employer": "employer",
    "contracts": "contract",
    "roster": "roster_entry",
    "imports": "roster_import",
    "invoices": "invoice",
    "partners": "partner",
    "statements": "statement",
    "entries": "journal_entry",
}


def parameter_kind(route: str, segment: str) -> str:
    assert segment in KIND_BY_SEGMENT, f"{route}: teach the matrix what a {segment!r} id names"
    kind = KIND_BY_SEGMENT[segment]
    if kind == "invoice" and "<int:employer_id>" in route:
        return "employer_invoice"  # under an employer, invoices are its EmployerInvoice rows
    return kind


@dataclass(frozen=True)
class Caller:
    label: str
    role: str
    tenant: str | None  # the employer, partner or member the caller belongs to


CALLERS = (
    Caller("anonymous", "anonymous", None),
    Caller("member M1", "member", "M1"),
    Caller("admin of A", "employer_admin", "A"),
    Caller("admin of B", "employer_admin", "B"),
    Caller("viewer of P", "partner_viewer", "P"),
    Caller("viewer of Q", "partner_viewer", "Q"),
    Caller("finance staff", "finance", None),
    Caller("operator admin", "operator", None),
)
STAFF_ROLES = {"finance", "operator"}
BOOKS = "books"  # the operator's own books: no tenant


@dataclass
class World:
    users: dict[str, User] = field(default_factory=dict)  # by caller label
    objects: dict[str, dict[str, int]] = field(default_factory=dict)  # tenant -> kind -> id
    markers: dict[str, set[str]] = field(default_factory=dict)  # tenant -> strings of its data


def invoice_numbered(invoice: Invoice, tenant: str) -> None:
    """The number Stripe gives an invoice when it is finalized (a marker: some outputs show
    little else of an invoice)."""
    invoice.number = f"INV-Zq{tenant}-0001"
    invoice.save(update_fields=["number"])


def employer_tenant(world: World, tenant: str) -> None:
    """Employer `tenant` with a contract, a roster entry (with history), a validated roster
    import, an employer invoice, and its admin."""
    name = f"Employer {tenant} Zq{tenant}x"
    employer = employer_create(name=name, billing_email=f"ap-{tenant.lower()}@zq-employer.example")
    admin = user_with_role(
        Role.EMPLOYER_ADMIN, employer=employer, email=f"benefits-{tenant.lower()}@zq.example"
    )
    contract = ContractFactory.create(employer=employer)
    entry = roster_entry_add(
        employer=employer,
        data=RosterEntryInput(
            external_id=f"ZQ-{tenant}-0001",
            full_name=f"Employee Zq{tenant}y",
            work_email=f"zq-{tenant.lower()}-employee@work.example",
            date_of_birth=dt.date(1990, 5, 17),
            eligible_from=dt.date(2026, 1, 1),
        ),
        actor=admin,
    )
    employee_enroll(  # the entry enrolls: the employer's enrollments list shows it
        data=EnrollInput(
            employer_code=employer.code,
            password="enrolled-password-2026",
            full_name=f"Employee Zq{tenant}y",
            date_of_birth=dt.date(1990, 5, 17),
            market_slug="northeast-ohio",
            work_email=f"zq-{tenant.lower()}-employee@work.example",
        )
    )
    content = (
        ",".join(COLUMNS)
        + f"\nZQ-{tenant}-0002,Importee Zq{tenant}z,zq-{tenant.lower()}-importee@work.example,"
        "1991-02-03,2026-01-01,\n"
    ).encode()
    roster_import = RosterImport.objects.create(
        employer=employer,
        uploaded_by=admin,
        file_name=f"roster-zq-{tenant.lower()}.csv",
        file_sha256="0" * 64,
        content=content,
    )
    roster_import_validate(import_id=roster_import.pk)
    customer = BillingCustomer.objects.get(employer=employer)
    invoice = invoice_create(
        customer=customer,
        lines=[
            InvoiceLineInput(
                f"Member-months Zq{tenant}w", 2000, dt.date(2026, 5, 1), dt.date(2026, 5, 31)
            )
        ],
        collection_method=CollectionMethod.SEND_INVOICE,
        days_until_due=30,
    )
    invoice_numbered(invoice, tenant)
    employer_invoice = EmployerInvoice.objects.create(
        employer=employer, period=dt.date(2026, 5, 1), invoice=invoice
    )
    world.users[f"admin of {tenant}"] = admin
    world.objects[tenant] = {
        "employer": employer.pk,
        "contract": contract.pk,
        "roster_entry": entry.pk,
        "roster_import": roster_import.pk,
        "employer_invoice": employer_invoice.pk,
        "invoice": invoice.pk,
    }
    world.markers[tenant] = {
        f"Zq{tenant}x",  # the employer's name
        f"ap-{tenant.lower()}@zq-employer",
        f"benefits-{tenant.lower()}@zq",
        f"ZQ-{tenant}-000",  # roster entries' external ids
        f"Zq{tenant}y",
        f"Zq{tenant}z",
        f"zq-{tenant.lower()}-",  # work emails, the import's file name
        f"Zq{tenant}w",  # the invoice line
        f"INV-Zq{tenant}",  # the invoice number
    }


def partner_tenant(world: World, tenant: str) -> None:
    partner = PartnerFactory.create(name=f"Health System Zq{tenant}p")
    statement = Statement.objects.create(partner=partner, period=dt.date(2026, 10, 1))
    world.users[f"viewer of {tenant}"] = user_with_role(
        Role.PARTNER_VIEWER, partner=partner, email=f"viewer-{tenant.lower()}@zq.example"
    )
    world.objects[tenant] = {"partner": partner.pk, "statement": statement.pk}
    world.markers[tenant] = {f"Zq{tenant}p", f"viewer-{tenant.lower()}@zq"}


def member_tenant(world: World, tenant: str) -> None:
    membership = active_membership()
    user = membership.member.user
    user.email = f"zq-{tenant.lower()}-member@example.test"
    user.full_name = f"Member Zq{tenant}m"
    user.save(update_fields=["email", "full_name"])
    customer = BillingCustomer.objects.get(user=user)
    customer.email, customer.name = user.email, user.full_name
    customer.save(update_fields=["email", "name"])
    invoice = invoice_create(
        customer=customer,
        lines=[
            InvoiceLineInput(
                f"Membership Zq{tenant}n", 900, dt.date(2027, 1, 1), dt.date(2027, 1, 31)
            )
        ],
        collection_method=CollectionMethod.CHARGE_AUTOMATICALLY,
    )
    invoice_numbered(invoice, tenant)
    world.users[f"member {tenant}"] = user
    world.objects[tenant] = {"invoice": invoice.pk}
    world.markers[tenant] = {
        f"Zq{tenant}m",
        f"zq-{tenant.lower()}-member",
        f"Zq{tenant}n",
        f"INV-Zq{tenant}",
    }


@pytest.fixture
def world() -> World:
    world = World()
    for tenant in ("A", "B"):
        employer_tenant(world, tenant)
    for tenant in ("P", "Q"):
        partner_tenant(world, tenant)
    for tenant in ("M1", "M2"):
        member_tenant(world, tenant)
    entry = journal_entry_post(
        idempotency_key="authz-matrix-entry",
        kind="test",
        occurred_on=dt.date(2026, 10, 5),
        postings=debit_credit(
            debit=chart.account_get(chart.CASH_STRIPE),
            credit=chart.account_get(chart.RECEIVABLE_MEMBER),
            amount_cents=100,
        ),
    )
    assert entry is not None
    world.objects[BOOKS] = {"journal_entry": entry.pk}
    world.markers[BOOKS] = set()  # the books are staff-only by route; no marker to track
    world.users["finance staff"] = user_with_role(Role.FINANCE_STAFF)
    world.users["operator admin"] = user_with_role(
        Role.OPERATOR_ADMIN, is_staff=True, is_superuser=True
    )
    return world


# --- calling every route -------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The objects one call addresses: a tenant's (None for routes without an object id). A
    mixed target names `tenant`'s employer with another tenant's object under it (`/employers/
    <B>/roster/<A's entry>/`): nobody may reach an object through a parent it is not under."""

    tenant: str | None
    path: str
    object_of: str | None = None  # the tenant of the objects after the first id, when mixed

    def __str__(self) -> str:
        if self.object_of:
            return f"{self.tenant}'s employer with {self.object_of}'s object"
        return f"{self.tenant}'s" if self.tenant else "no object"


def route_targets(route: Route, world: World) -> list[Target]:
    """One path per tenant that has every kind of object the route names; for a route with
    more than one id, also each tenant's first object with another tenant's others."""
    kinds: list[str] = []

    def kind_of(name: str, segment: str) -> str:
        kinds.append(parameter_kind(route.route, segment))
        return name

    route_fill(route.route, kind_of)
    if not kinds:
        return [Target(None, "/" + route.route)]
    tenants = [t for t, objects in world.objects.items() if all(k in objects for k in kinds)]
    assert tenants, f"{route.route}: teach the matrix to make objects of kinds {kinds}"

    def path(first: str, rest: str) -> str:
        ids = iter([world.objects[first][kinds[0]], *(world.objects[rest][k] for k in kinds[1:])])
        return route_fill(route.route, lambda _name, _segment: next(ids))

    targets = [Target(tenant, path(tenant, tenant)) for tenant in tenants]
    if len(kinds) > 1:
        targets += [
            Target(first, path(first, rest), object_of=rest)
            for first in tenants
            for rest in tenants
            if rest != first
        ]
    return targets


def expectation(entry: dict[str, Expected], caller: Caller, target: Target) -> Expected | None:
    expected = entry.get(caller.role)
    if target.tenant is not None and target.tenant != BOOKS and caller.tenant is not None:
        relation = "own" if caller.tenant == target.tenant else "other"
        expected = entry.get(f"{caller.role}:{relation}", expected)
    if target.object_of is not None:
        if f"mixed:{caller.role}" in entry:
            return entry[f"mixed:{caller.role}"]
        if expected == OK:
            return 404  # let in to the parent, but the object is not under it
    return expected


def outcome(response: Any) -> Expected:
    """What a response amounts to: its 401/403/404/405, LOGIN for a redirect to a login page,
    or OK; a server error is its status."""
    status: int = response.status_code
    if status >= 500 or status in (401, 403, 404, 405):
        return status
    if status in (301, 302, 303) and "/login/" in response["Location"]:
        return LOGIN
    return OK


def is_api(route: Route) -> bool:
    view = route.view_class
    return view is not None and issubclass(view, APIView)


class Clients:
    """One API client (bearer token) and one web client (session) per caller."""

    def __init__(self, world: World, client_for: Callable[[User], APIClient]) -> None:
        self.world = world
        self.client_for = client_for
        self.api: dict[str, Any] = {}
        self.web: dict[str, Any] = {}
        for caller in CALLERS:
            self.renew(caller)

    def renew(self, caller: Caller) -> None:
        if caller.role == "anonymous":
            self.api[caller.label], self.web[caller.label] = APIClient(), Client()
            return
        user = self.world.users[caller.label]
        web = Client()
        web.force_login(user)
        self.api[caller.label], self.web[caller.label] = self.client_for(user), web

    def call(self, caller: Caller, route: Route, method: str, path: str) -> Any:
        body = dict(BODIES.get((route.route, method), {}))
        upload = any(isinstance(value, bytes) for value in body.values())
        for name, value in body.items():
            if isinstance(value, bytes):
                body[name] = SimpleUploadedFile("roster.csv", value, content_type="text/csv")
        if is_api(route):
            client = self.api[caller.label]
            return getattr(client, method.lower())(
                path, body, format="multipart" if upload else "json"
            )
        return getattr(self.web[caller.label], method.lower())(path, body)


def table_names() -> list[str]:
    return sorted({model._meta.db_table for model in apps.get_models() if model._meta.managed})


def database_state(tables: list[str]) -> dict[str, tuple[int, int]]:
    """Per table: (rows, rows inserted + updated + deleted so far in this transaction)."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        counts = ", ".join(f"(SELECT count(*) FROM {quote(t)})" for t in tables)  # noqa: S608
        cursor.execute(f"SELECT {counts}")
        rows = dict(zip(tables, cursor.fetchone(), strict=True))
        cursor.execute(
            "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_xact_user_tables"
        )
        writes = dict(cursor.fetchall())
    return {t: (rows[t], writes.get(t, 0)) for t in tables}


def visible_tenants(caller: Caller, world: World) -> set[str]:
    if caller.role in STAFF_ROLES:
        return set(world.markers)
    return {caller.tenant} if caller.tenant else set()


def markers_shown(response: Any, world: World) -> dict[str, set[str]]:
    """The markers the response shows, by tenant."""
    body = b"".join(response) if getattr(response, "streaming", False) else response.content
    text = body.decode("utf-8", errors="replace")
    return {tenant: {m for m in markers if m in text} for tenant, markers in world.markers.items()}


@dataclass
class Tally:
    routes: int = 0
    pairs: int = 0
    calls: int = 0
    refused_unsafe: int = 0
    accepted_unsafe: int = 0  # unsafe calls let in that succeeded (2xx, or a page's redirect)
    wrong: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)  # markers shown to callers who may see them


def matrix_walk(
    world: World,
    clients: Clients,
    *,
    matrix: dict[tuple[str, str], dict[str, Expected]] = MATRIX,
    routes: list[Route] | None = None,
) -> Tally:
    """Calls every route (of `routes`, default all) with every method, as every caller, on
    every tenant's objects, and tallies what differs from `matrix`."""
    tally = Tally()
    tables = table_names()
    routes = routes_in_scope() if routes is None else routes
    tally.routes = len(routes)
    # reads first, on the data as made; then the writes (which change some of it)
    pairs = sorted(
        ((route, method) for route in routes for method in route.methods),
        key=lambda pair: (pair[1] in UNSAFE_METHODS, pair[0].route, pair[1]),
    )
    for route, method in pairs:
        targets = route_targets(route, world)
        tally.pairs += 1
        entry = matrix.get((route.route, method))
        if entry is None:
            tally.wrong.append(f"{method} /{route.route}: no entry in the matrix")
            continue
        for caller in CALLERS:
            for target in targets:
                expected = expectation(entry, caller, target)
                where = f"{method} /{route.route} as {caller.label} on {target}"
                if expected is None:
                    tally.wrong.append(f"{where}: the matrix has no expectation for it")
                    continue
                before = None
                ends_session = (route.route, method) in ENDS_THE_SESSION  # a write, by design
                if method in UNSAFE_METHODS and expected != OK and not ends_session:
                    before = database_state(tables)
                response = clients.call(caller, route, method, target.path)
                tally.calls += 1
                got = outcome(response)
                if method in UNSAFE_METHODS and got == OK and response.status_code < 400:
                    tally.accepted_unsafe += 1
                if got != expected:
                    tally.wrong.append(
                        f"{where}: expected {expected}, got {got} ({response.status_code})"
                    )
                visible = visible_tenants(caller, world)
                for tenant, shown in markers_shown(response, world).items():
                    if tenant in visible:
                        tally.seen |= shown
                    elif shown:
                        tally.wrong.append(f"{where}: shows {tenant}'s data {sorted(shown)}")
                if before is not None:
                    tally.refused_unsafe += 1
                    after = database_state(tables)
                    changed = sorted(t for t in tables if before[t] != after[t])
                    if changed:
                        tally.wrong.append(f"{where}: refused, but wrote to {changed}")
                if ends_session:
                    clients.renew(caller)
    return tally


# --- the tests -----------------------------------------------------------------------------------


def test_every_route_and_method_has_an_entry_and_every_entry_a_route():
    missing, stale = matrix_gaps(routes_in_scope(), MATRIX)
    assert missing == [], f"routes without an entry in MATRIX (add one line each): {missing}"
    assert stale == [], f"MATRIX entries for routes or methods that no longer exist: {stale}"


def test_a_new_route_without_an_entry_and_an_entry_without_a_route_are_named():
    throwaway = path("api/v1/throwaway/<int:pk>/", EmployerDetailApi.as_view())
    routes = routes_in_scope(url_routes([*get_resolver().url_patterns, throwaway]))
    stale_matrix = {**MATRIX, ("api/v1/gone/", "GET"): ANYONE}
    missing, stale = matrix_gaps(routes, stale_matrix)
    assert missing == ["GET /api/v1/throwaway/<int:pk>/", "PATCH /api/v1/throwaway/<int:pk>/"]
    assert stale == ["GET /api/v1/gone/"]


def openapi_shape(path: str) -> str:
    """The path with its parameters unnamed (the schema calls a `pk` `id`)."""
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_every_operation_of_the_openapi_schema_is_in_the_matrix():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    in_matrix = {
        (openapi_shape(route.openapi_path), method)
        for route in routes_in_scope()
        for method in route.methods
        if (route.route, method) in MATRIX
    }
    operations = {
        (openapi_shape(path), method.upper())
        for path, item in schema["paths"].items()
        for method in item
        if method.upper() in {"GET", "POST", "PUT", "PATCH", "DELETE"}
    }
    assert len(operations) > 40
    assert sorted(operations - in_matrix) == []


def test_every_route_answers_every_caller_as_the_matrix_says(world, client_for):
    tally = matrix_walk(world, Clients(world, client_for))
    print(  # noqa: T201  (the figures, seen with -s)
        f"authorization matrix: {tally.routes} routes, {tally.pairs} route x method pairs, "
        f"{tally.calls} calls; unsafe calls: {tally.refused_unsafe} refused (checked for "
        f"writes), {tally.accepted_unsafe} accepted"
    )
    # every marker shows somewhere to those who may see it: the leak check looks for real data
    assert set().union(*world.markers.values()) - tally.seen == set()
    assert not tally.wrong, "\n".join([f"{len(tally.wrong)} wrong answers:", *tally.wrong])
    assert tally.routes >= 70
    assert tally.calls >= 1000


def test_a_wrong_expectation_fails_the_walk(world, client_for):
    """The walk is not blind: flip one expectation (an admin of another employer let in) and
    exactly the calls it covers are reported."""
    route = next(r for r in routes_in_scope() if r.route == "api/v1/employers/<int:pk>/")
    flipped = {**EMPLOYER_READ, "employer_admin:other": OK}
    matrix = {**MATRIX, (route.route, "GET"): flipped}
    tally = matrix_walk(world, Clients(world, client_for), matrix=matrix, routes=[route])
    assert tally.wrong == [
        "GET /api/v1/employers/<int:pk>/ as admin of A on B's: expected ok, got 404 (404)",
        "GET /api/v1/employers/<int:pk>/ as admin of B on A's: expected ok, got 404 (404)",
    ]
    assert tally.calls == 2 * len(CALLERS) * 2  # GET and PATCH, every caller, on A and B


def test_a_write_by_a_caller_who_should_be_refused_is_seen(world, client_for):
    """The no-write check is not blind: expect the operator admin to be refused creating an
    employer, and the walk reports both the status and the rows the call wrote."""
    route = next(r for r in routes_in_scope() if r.route == "api/v1/employers/")
    matrix = {**MATRIX, (route.route, "POST"): {**OPERATOR_ONLY, "operator": 403}}
    tally = matrix_walk(world, Clients(world, client_for), matrix=matrix, routes=[route])
    where = "POST /api/v1/employers/ as operator admin on no object"
    assert tally.wrong[0] == f"{where}: expected 403, got ok (201)"
    assert tally.wrong[1].startswith(f"{where}: refused, but wrote to [")
    assert "'employers_employer'" in tally.wrong[1]
    assert len(tally.wrong) == 2


# Django admin pages open to anyone by Django's design: its login and logout, the JavaScript
# translation catalog, and "view on site" (a redirect to the object's public URL).
ADMIN_PUBLIC = {"admin:login", "admin:logout", "admin:jsi18n", "admin:view_on_site"}
ADMIN_REGEX_EXAMPLES = {"admin:app_list": "/admin/accounts/", None: "/admin/no-such-page/"}


def test_every_django_admin_page_sends_anonymous_and_non_staff_callers_to_its_login():
    """The matrix stands for the admin by its index; this covers the rest of it: every page
    of every registered model (and any custom admin view) asks a caller who is not staff to
    log in, so an admin view registered without the admin's protection is caught here."""
    finance = Client()
    finance.force_login(user_with_role(Role.FINANCE_STAFF))  # signed in, but not staff
    pages = [
        r
        for r in url_routes()
        if r.route.startswith("admin/") and r.route != "admin/" and r.name not in ADMIN_PUBLIC
    ]
    assert len(pages) > 100
    wrong = []
    for page in pages:
        if "(?P" in page.route:
            url = ADMIN_REGEX_EXAMPLES[page.name]
        else:
            url = route_fill(page.route, lambda _name, _segment: 1)
        for who, client in (("anonymous", Client()), ("finance staff", finance)):
            response = client.get(url)
            if response.status_code != 302 or not response["Location"].startswith("/admin/login/"):
                wrong.append(f"GET {url} as {who}: {response.status_code}")
    assert wrong == []
