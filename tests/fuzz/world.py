"""The small, realistic data set the fuzzer runs against: two employers (one with a contract,
roster entries, a roster import and an invoice), a member with an active membership and a paid
invoice, a partner with recognized revenue and two statements, and one user per role. The
fuzzer is given these objects' ids as path parameters, so generated requests hit real objects
as well as random ids."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from accounts.models import Role, User
from accounts.services import access_token_issue
from billing.models import CollectionMethod, Invoice, InvoiceStatus, Payment, PaymentStatus
from billing.services import InvoiceLineInput, billing_customer_create, invoice_create
from employers.imports import roster_import_create
from employers.models import Employer
from ledger import chart
from ledger.journal import Dimensions, debit_credit, journal_entry_post
from ledger.models import JournalEntry, RevenueShareAgreement
from ledger.statements import statement_generate
from memberships.models import Market, Price
from memberships.services import membership_fee_invoice_create
from tests.billing.factories import JANUARY
from tests.employers.factories import ContractFactory, RosterEntryFactory
from tests.factories import TEST_PASSWORD, EmployerFactory, user_with_role
from tests.memberships.factories import JAN_1, active_membership

# The roles the fuzzer calls the API as; "anonymous" sends no credentials.
ROLES = (
    "anonymous",
    "member",
    "employer_admin",
    "partner_viewer",
    "finance_staff",
    "operator_admin",
)

ROSTER_CSV = (
    b"external_id,full_name,work_email,date_of_birth,eligible_from,eligible_until\n"
    b"F000001,Ada Fuzz,ada@work.example,1990-01-02,2026-01-01,\n"
    b"F000002,Bob Fuzz,not-an-email,1991-02-03,2026-01-01,\n"
)


@dataclass(frozen=True)
class FuzzWorld:
    tokens: dict[str, str]  # role -> bearer token
    # path template -> parameter -> the id of a real object (of the seeded tenant)
    path_values: dict[str, dict[str, int]]


def _paid(invoice: Invoice) -> Invoice:
    """Mark a member invoice paid as the Stripe rail would (no Stripe needed)."""
    Invoice.objects.filter(pk=invoice.pk).update(
        status=InvoiceStatus.PAID,
        stripe_invoice_id=f"in_fuzz_{invoice.pk}",
        amount_paid_cents=invoice.total_cents,
        paid_at=timezone.now(),
    )
    Payment.objects.create(
        invoice=invoice,
        status=PaymentStatus.SUCCEEDED,
        amount_cents=invoice.total_cents,
        currency="usd",
        stripe_payment_intent_id=f"pi_fuzz_{invoice.pk}",
    )
    invoice.refresh_from_db()
    return invoice


def _employer_with_data(name: str) -> tuple[Employer, dict[str, int]]:
    employer = EmployerFactory.create(name=name)
    contract = ContractFactory.create(employer=employer)
    entries = RosterEntryFactory.create_batch(3, employer=employer)
    roster_import = roster_import_create(
        employer=employer,
        uploaded_by=None,
        file_name="roster.csv",
        content=ROSTER_CSV,
        replace=False,
    )
    customer = billing_customer_create(
        email=employer.billing_email, name=employer.name, employer=employer
    )
    start, end = JANUARY
    invoice = invoice_create(
        customer=customer,
        lines=[InvoiceLineInput("Member-months, January", 4000, start, end)],
        collection_method=CollectionMethod.SEND_INVOICE,
        days_until_due=30,
    )
    return employer, {
        "employer": employer.pk,
        "contract": contract.pk,
        "entry": entries[0].pk,
        "import": roster_import.pk,
        "invoice": invoice.pk,
    }


def _statements(market: Market) -> list[int]:
    partner = market.partner
    assert partner is not None
    start = dt.date(2026, 1, 1)
    RevenueShareAgreement.objects.create(
        partner=partner, market=market, share_bps=2000, effective_from=start
    )
    for day, cents in ((dt.date(2026, 9, 9), 10_000), (dt.date(2026, 10, 9), 12_001)):
        journal_entry_post(
            idempotency_key=f"fuzz:recognize:{day}",
            kind="test",
            occurred_on=day,
            postings=debit_credit(
                debit=chart.account_get(chart.DEFERRED_REVENUE),
                credit=chart.account_get(chart.MEMBERSHIP_REVENUE),
                amount_cents=cents,
                dimensions=Dimensions(partner_id=market.partner_id, market_id=market.pk),
            ),
        )
    return [
        statement_generate(partner=partner, period=period).pk
        for period in (dt.date(2026, 9, 1), dt.date(2026, 10, 1))
    ]


def fuzz_world_seed() -> FuzzWorld:
    market = Market.objects.select_related("partner").get(slug="northeast-ohio")
    assert market.partner is not None
    statement_ids = _statements(market)

    membership = active_membership(code="prime_monthly", start=JAN_1)
    member_user: User = membership.member.user
    price = Price.objects.get(code="prime_monthly")
    member_invoice = _paid(
        membership_fee_invoice_create(
            membership=membership,
            customer=member_user.billing_customer,
            price=price,
            start=membership.current_period_start,
            end=membership.current_period_end,
        )
    )

    employer, ids = _employer_with_data("Fuzz Industries")
    _employer_with_data("Other Tenant Co")  # another tenant: its objects must stay invisible

    users = {
        "member": member_user,
        "employer_admin": user_with_role(Role.EMPLOYER_ADMIN, employer=employer),
        "partner_viewer": user_with_role(Role.PARTNER_VIEWER, partner=market.partner),
        "finance_staff": user_with_role(Role.FINANCE_STAFF),
        "operator_admin": user_with_role(Role.OPERATOR_ADMIN),
    }
    tokens = {
        role: access_token_issue(email=user.email, password=TEST_PASSWORD).token
        for role, user in users.items()
    }
    entry = JournalEntry.objects.order_by("pk").values_list("pk", flat=True).first()
    statement = statement_ids[-1]
    employer_id = ids["employer"]
    roster_path = "/api/v1/employers/{employer_id}/roster/"
    imports_path = roster_path + "imports/{id}/"
    path_values: dict[str, dict[str, int]] = {
        "/api/v1/employers/{id}/": {"id": employer_id},
        "/api/v1/employers/{employer_id}/contracts/{contract_id}/end/": {
            "employer_id": employer_id,
            "contract_id": ids["contract"],
        },
        "/api/v1/employers/{employer_id}/invoices/{id}/": {
            "employer_id": employer_id,
            "id": ids["invoice"],
        },
        imports_path: {"employer_id": employer_id, "id": ids["import"]},
        "/api/v1/invoices/{id}/": {"id": member_invoice.pk},
        "/api/v1/ledger/entries/{id}/": {"id": entry or 0},
        "/api/v1/partners/{id}/": {"id": market.partner.pk},
        "/api/v1/statements/{id}/": {"id": statement},
    }
    for suffix in ("confirm/", "errors/", "rows/", "terminations/"):
        path_values[imports_path + suffix] = path_values[imports_path]
    for suffix in ("", "history/", "terminate/"):
        path_values[roster_path + "{entry_id}/" + suffix] = {
            "employer_id": employer_id,
            "entry_id": ids["entry"],
        }
    for suffix in ("credit-notes/", "refunds/"):
        path_values["/api/v1/invoices/{id}/" + suffix] = {"id": member_invoice.pk}
    for suffix in ("approve/", "export.csv", "export.pdf", "payout/"):
        path_values["/api/v1/statements/{id}/" + suffix] = {"id": statement}
    return FuzzWorld(tokens=tokens, path_values=path_values)


def employer_scoped_path_values(world: FuzzWorld, path: str) -> dict[str, int]:
    """The real ids for `path`: its own entry, else just the employer for any path under it."""
    if path in world.path_values:
        return world.path_values[path]
    if "{employer_id}" in path:
        return {"employer_id": world.path_values["/api/v1/employers/{id}/"]["id"]}
    return {}
