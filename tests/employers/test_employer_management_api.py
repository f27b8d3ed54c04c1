"""Operator staff manage employers, contracts and benefits admins; employer admins read their
own employer's contracts; nobody reaches another employer's."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import stripe

from accounts.models import Role, RoleGrant, User
from accounts.services import access_token_issue, user_create
from billing.models import BillingCustomer, StripeCommand, StripeCommandKind, StripeCommandStatus
from billing.stripe_outbox import stripe_outbox_push_now
from config import clock
from employers.models import ContributionKind, Employer, EmployerContract
from notifications.models import EmailNotification, NotificationKind
from notifications.services import notification_message
from tests.api_assertions import assert_error
from tests.employers.factories import ContractFactory, EmployerFactory, RosterEntryFactory
from tests.factories import TEST_PASSWORD, PartnerFactory, user_with_role

pytestmark = pytest.mark.django_db

CONTRACT = {
    "pepm_cents": 2500,
    "contribution_kind": "fixed",
    "contribution_cents": 2000,
    "billing_day": 5,
    "net_days": 30,
    "effective_from": "2026-01-01",
}


@pytest.fixture
def acme():
    return EmployerFactory(name="Acme")


@pytest.fixture
def globex():
    return EmployerFactory(name="Globex")


@pytest.fixture
def operator(client_for):
    return client_for(user_with_role(Role.OPERATOR_ADMIN))


def _sync_commands(employer: Employer) -> list[StripeCommand]:
    return list(
        StripeCommand.objects.filter(
            customer__employer=employer, kind=StripeCommandKind.CUSTOMER_SYNC
        ).order_by("id")
    )


# --- employers ---------------------------------------------------------------------------------


def test_operator_creates_an_employer_with_a_code_and_a_billing_customer(operator):
    response = operator.post(
        "/api/v1/employers/", {"name": " Initech ", "billing_email": "AP@Initech.example"}
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Initech"
    assert body["billing_email"] == "ap@initech.example"
    assert re.fullmatch(r"[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}", body["code"])
    employer = Employer.objects.get(pk=body["id"])
    customer = BillingCustomer.objects.get(employer=employer)
    assert (customer.email, customer.name, customer.user_id) == (
        "ap@initech.example",
        "Initech",
        None,
    )
    assert len(_sync_commands(employer)) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"billing_email": "ap@x.example"}, "name"),
        ({"name": "X", "billing_email": "not-an-email"}, "billing_email"),
    ],
)
def test_employer_creation_validates_fields(operator, body, field):
    error = assert_error(operator.post("/api/v1/employers/", body), 400, "invalid")

    assert field in error["details"]
    assert not Employer.objects.exists()


@pytest.mark.parametrize("role", [Role.FINANCE_STAFF, Role.EMPLOYER_ADMIN, Role.MEMBER])
def test_only_operator_admins_create_employers(client_for, acme, role):
    user = user_with_role(role, employer=acme if role == Role.EMPLOYER_ADMIN else None)

    response = client_for(user).post(
        "/api/v1/employers/", {"name": "Initech", "billing_email": "ap@initech.example"}
    )

    assert_error(response, 403, "permission_denied")
    assert Employer.objects.count() == 1


def test_operator_changes_the_billing_email_and_the_customer_follows(operator):
    created = operator.post(
        "/api/v1/employers/", {"name": "Initech", "billing_email": "ap@initech.example"}
    ).json()

    response = operator.patch(
        f"/api/v1/employers/{created['id']}/", {"billing_email": "Billing@Initech.example"}
    )

    assert response.status_code == 200, response.content
    assert response.json()["billing_email"] == "billing@initech.example"
    assert response.json()["code"] == created["code"]
    employer = Employer.objects.get(pk=created["id"])
    assert BillingCustomer.objects.get(employer=employer).email == "billing@initech.example"
    assert len(_sync_commands(employer)) == 2


def test_employer_admin_cannot_change_their_employer_and_gets_404_for_another(
    client_for, acme, globex
):
    client = client_for(user_with_role(Role.EMPLOYER_ADMIN, employer=acme))

    assert_error(
        client.patch(f"/api/v1/employers/{acme.id}/", {"name": "X"}), 403, "permission_denied"
    )
    assert_error(client.patch(f"/api/v1/employers/{globex.id}/", {"name": "X"}), 404, "not_found")
    acme.refresh_from_db()
    assert acme.name == "Acme"


@pytest.mark.django_db(transaction=True)
def test_the_employer_reaches_stripe_as_a_customer_and_follows_changes(client_for, stripe_emulator):
    operator = client_for(user_with_role(Role.OPERATOR_ADMIN))
    created = operator.post(
        "/api/v1/employers/", {"name": "Initech", "billing_email": "ap@initech.example"}
    ).json()
    employer = Employer.objects.get(pk=created["id"])
    stripe_outbox_push_now(command_ids=[c.pk for c in _sync_commands(employer)])
    operator.patch(
        f"/api/v1/employers/{employer.pk}/", {"billing_email": "billing@initech.example"}
    )
    stripe_outbox_push_now(command_ids=[c.pk for c in _sync_commands(employer)])

    customer = BillingCustomer.objects.get(employer=employer)
    assert customer.stripe_customer_id
    assert {c.status for c in _sync_commands(employer)} == {StripeCommandStatus.DONE}
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": stripe_emulator.api_base})
    in_stripe = client.v1.customers.retrieve(customer.stripe_customer_id)
    assert (in_stripe.email, in_stripe.name) == ("billing@initech.example", "Initech")


# --- contracts ---------------------------------------------------------------------------------


def test_operator_adds_a_contract_with_the_shares_it_implies(operator, acme):
    response = operator.post(f"/api/v1/employers/{acme.id}/contracts/", CONTRACT)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["employer_share_cents"] == 2000
    assert body["member_share_cents"] == 500
    assert body["effective_until"] is None
    assert EmployerContract.objects.get(pk=body["id"]).employer_id == acme.id


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"pepm_cents": 0, "contribution_kind": "full", "contribution_cents": 0}, "pepm_cents"),
        ({"pepm_cents": -5, "contribution_kind": "full", "contribution_cents": 0}, "pepm_cents"),
        ({"contribution_cents": 2500}, "contribution_cents"),
        ({"contribution_cents": -1}, "contribution_cents"),
        ({"contribution_kind": "full", "contribution_cents": 100}, "contribution_cents"),
        ({"billing_day": 29}, "billing_day"),
        ({"billing_day": 0}, "billing_day"),
        ({"effective_until": "2026-01-01"}, "effective_until"),
        ({"effective_until": "2025-12-01"}, "effective_until"),
        ({"contribution_kind": "half"}, "contribution_kind"),
        ({"effective_from": "soon"}, "effective_from"),
    ],
)
def test_contract_validation_errors_name_the_field(operator, acme, change, field):
    response = operator.post(f"/api/v1/employers/{acme.id}/contracts/", {**CONTRACT, **change})

    error = assert_error(response, 400, "invalid")
    assert list(error["details"]) == [field], error
    assert error["details"][field][0]["message"]
    assert not EmployerContract.objects.exists()


def test_overlapping_contract_windows_are_a_409_naming_the_contract(operator, acme):
    first = ContractFactory(
        employer=acme, effective_from=dt.date(2026, 1, 1), effective_until=dt.date(2026, 7, 1)
    )
    url = f"/api/v1/employers/{acme.id}/contracts/"

    overlapping = operator.post(url, {**CONTRACT, "effective_from": "2026-06-30"})
    adjacent = operator.post(url, {**CONTRACT, "effective_from": "2026-07-01"})
    around = operator.post(
        url, {**CONTRACT, "effective_from": "2025-01-01", "effective_until": "2027-01-01"}
    )

    error = assert_error(overlapping, 409, "conflict")
    assert error["details"]["conflicting_contract_id"] == first.pk
    assert adjacent.status_code == 201, adjacent.content  # effective_until is exclusive
    assert_error(around, 409, "conflict")
    assert EmployerContract.objects.filter(employer=acme).count() == 2


def test_ending_an_open_contract_lets_new_terms_start_that_day(operator, acme):
    old = ContractFactory(employer=acme, effective_from=dt.date(2026, 1, 1))
    end_url = f"/api/v1/employers/{acme.id}/contracts/{old.pk}/end/"

    with clock.as_of(dt.date(2026, 11, 24)):
        past = operator.post(end_url, {"effective_until": "2026-11-01"})
        ended = operator.post(end_url, {"effective_until": "2027-01-01"})
        new_terms = operator.post(
            f"/api/v1/employers/{acme.id}/contracts/",
            {**CONTRACT, "effective_from": "2027-01-01", "pepm_cents": 2500},
        )
        into_next = operator.post(end_url, {"effective_until": "2027-02-01"})

    assert_error(past, 400, "invalid")
    assert ended.status_code == 200, ended.content
    assert ended.json()["effective_until"] == "2027-01-01"
    assert new_terms.status_code == 201, new_terms.content
    error = assert_error(into_next, 409, "conflict")
    assert error["details"]["conflicting_contract_id"] == new_terms.json()["id"]
    old.refresh_from_db()
    assert old.effective_until == dt.date(2027, 1, 1)


def test_only_operators_end_contracts_and_another_employers_is_a_404(
    client_for, operator, acme, globex
):
    contract = ContractFactory(employer=acme)
    admin = client_for(user_with_role(Role.EMPLOYER_ADMIN, employer=acme))
    body = {"effective_until": "2099-01-01"}

    own = admin.post(f"/api/v1/employers/{acme.id}/contracts/{contract.pk}/end/", body)
    wrong_employer = operator.post(
        f"/api/v1/employers/{globex.id}/contracts/{contract.pk}/end/", body
    )

    assert_error(own, 403, "permission_denied")
    assert_error(wrong_employer, 404, "not_found")
    contract.refresh_from_db()
    assert contract.effective_until is None


def test_contracts_of_another_employer_do_not_conflict(operator, acme, globex):
    ContractFactory(employer=globex)

    response = operator.post(f"/api/v1/employers/{acme.id}/contracts/", CONTRACT)

    assert response.status_code == 201


def test_employer_admin_reads_their_contracts_but_cannot_add_one(client_for, acme, globex):
    ContractFactory(employer=acme)
    ContractFactory(employer=globex)
    client = client_for(user_with_role(Role.EMPLOYER_ADMIN, employer=acme))

    listed = client.get(f"/api/v1/employers/{acme.id}/contracts/")

    assert listed.status_code == 200
    assert [c["pepm_cents"] for c in listed.json()] == [2000]
    assert_error(
        client.post(f"/api/v1/employers/{acme.id}/contracts/", CONTRACT), 403, "permission_denied"
    )


# --- benefits admins ---------------------------------------------------------------------------


def _invitation(user: User) -> EmailNotification:
    return EmailNotification.objects.get(user=user, kind=NotificationKind.EMPLOYER_ADMIN_INVITATION)


def test_inviting_a_new_admin_creates_the_account_and_a_set_password_link(
    client_for, api_client, acme
):
    operator_user = user_with_role(Role.OPERATOR_ADMIN)

    response = client_for(operator_user).post(
        f"/api/v1/employers/{acme.id}/admins/",
        {"email": "Benefits@Acme.example", "full_name": "Bea Benefits"},
    )

    assert response.status_code == 201, response.content
    assert response.json()["user_created"] is True
    user = User.objects.get(email="benefits@acme.example")
    assert not user.has_usable_password()
    grant = RoleGrant.objects.get(user=user)
    assert (grant.role, grant.employer_id, grant.granted_by_id) == (
        Role.EMPLOYER_ADMIN,
        acme.id,
        operator_user.pk,
    )
    message = notification_message(notification=_invitation(user))
    assert "Acme" in message.subject
    [link] = re.findall(r"http\S+/set-password\?\S+", message.body)
    params = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}

    password = "a long new password 42"
    set_response = api_client.post(
        "/api/v1/employers/admin-invitations/set-password/", {**params, "password": password}
    )
    again = api_client.post(
        "/api/v1/employers/admin-invitations/set-password/",
        {**params, "password": "another long password 7"},
    )

    assert set_response.status_code == 204, set_response.content
    assert_error(again, 400, "invalid_link")  # the link works once
    issued = access_token_issue(email="benefits@acme.example", password=password)
    assert issued.user == user
    admin_client = api_client
    admin_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.token}")
    assert admin_client.get(f"/api/v1/employers/{acme.id}/roster/").status_code == 200


def test_a_forged_set_password_link_is_refused(api_client, acme):
    user = user_create(email="someone@acme.example", password=None)

    response = api_client.post(
        "/api/v1/employers/admin-invitations/set-password/",
        {"uid": "MQ", "token": "abc-123", "password": "a long new password 42"},
    )

    assert_error(response, 400, "invalid_link")
    user.refresh_from_db()
    assert not user.has_usable_password()


def test_inviting_an_existing_user_grants_the_role_without_a_link(operator, acme):
    member = user_with_role(Role.MEMBER, email="pat@acme.example")

    first = operator.post(f"/api/v1/employers/{acme.id}/admins/", {"email": "PAT@acme.example"})
    second = operator.post(f"/api/v1/employers/{acme.id}/admins/", {"email": "pat@acme.example"})

    assert first.status_code == 201
    assert first.json()["user_created"] is False
    assert second.status_code == 200
    assert second.json()["invited"] is False
    assert RoleGrant.objects.filter(user=member, role=Role.EMPLOYER_ADMIN).count() == 1
    notification = _invitation(member)  # exactly one
    assert notification.context["set_password_url"] == ""
    member.refresh_from_db()
    assert member.check_password(TEST_PASSWORD)


def test_invitation_validates_the_email(operator, acme):
    error = assert_error(
        operator.post(f"/api/v1/employers/{acme.id}/admins/", {"email": "nope"}), 400, "invalid"
    )
    assert "email" in error["details"]


def test_employer_admin_cannot_invite_admins(client_for, acme):
    client = client_for(user_with_role(Role.EMPLOYER_ADMIN, employer=acme))

    response = client.post(f"/api/v1/employers/{acme.id}/admins/", {"email": "x@acme.example"})

    assert_error(response, 403, "permission_denied")
    assert not User.objects.filter(email="x@acme.example").exists()


# --- scoping: every route of employer A, as others ------------------------------------------


def management_routes(employer_id: int) -> list[tuple[str, str, dict[str, object]]]:
    return [
        ("get", f"/api/v1/employers/{employer_id}/", {}),
        ("patch", f"/api/v1/employers/{employer_id}/", {"name": "Hijacked"}),
        ("get", f"/api/v1/employers/{employer_id}/contracts/", {}),
        ("post", f"/api/v1/employers/{employer_id}/contracts/", CONTRACT),
        ("post", f"/api/v1/employers/{employer_id}/admins/", {"email": "evil@x.example"}),
    ]


def test_admin_of_another_employer_gets_404_on_every_management_route(client_for, acme, globex):
    client = client_for(user_with_role(Role.EMPLOYER_ADMIN, employer=globex))

    for method, url, body in management_routes(acme.id):
        assert_error(getattr(client, method)(url, body), 404, "not_found")

    acme.refresh_from_db()
    assert acme.name == "Acme"
    assert not EmployerContract.objects.exists()
    assert not User.objects.filter(email="evil@x.example").exists()


@pytest.mark.parametrize("role", [Role.MEMBER, Role.PARTNER_VIEWER])
def test_members_and_partner_viewers_are_refused_every_management_route(client_for, acme, role):
    partner = PartnerFactory() if role == Role.PARTNER_VIEWER else None
    client = client_for(user_with_role(role, partner=partner))

    for method, url, body in management_routes(acme.id):
        assert_error(getattr(client, method)(url, body), 403, "permission_denied")


def test_anonymous_callers_get_401_on_every_management_route(api_client, acme):
    for method, url, body in management_routes(acme.id):
        assert_error(getattr(api_client, method)(url, body), 401, "not_authenticated")


def test_contract_kinds_are_the_models(operator, acme):
    """The API's contribution kinds are exactly the model's (no drift)."""
    for kind in ContributionKind:
        change = {"contribution_kind": kind.value}
        if kind == ContributionKind.FULL:
            change["contribution_cents"] = 0
        EmployerContract.objects.all().delete()
        assert (
            operator.post(
                f"/api/v1/employers/{acme.id}/contracts/", {**CONTRACT, **change}
            ).status_code
            == 201
        )


# --- Django admin ------------------------------------------------------------------------------


def test_the_employer_models_are_browsable_and_read_only_in_the_django_admin(client, acme):
    ContractFactory(employer=acme)
    RosterEntryFactory(employer=acme)
    superuser = User.objects.create_superuser("root@example.test", TEST_PASSWORD)
    client.force_login(superuser)

    for model in ["employer", "employercontract", "rosterentry", "rosterchange", "rosterimport"]:
        assert client.get(f"/admin/employers/{model}/").status_code == 200, model
    assert client.get(f"/admin/employers/employer/{acme.id}/change/").status_code == 200
    assert client.get("/admin/employers/rosterentry/add/").status_code == 403
