"""Enrollment in sponsored memberships, their end at the contract's rule, conversion to an
individual membership, and the employer admin's list of enrollments.

Employers, contracts and roster entries are made with the ORM here (roster APIs and factories
are tested on their own); a termination is what the roster sends: `roster_entries_terminated`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role, User
from billing.models import BillingCustomer, Invoice, InvoiceStatus, StripeCommand
from billing.stripe_gateway import stripe_gateway
from billing.stripe_outbox import stripe_outbox_push
from config import clock
from employers.enrollment import (
    enrollments_end_for_terminated_entries,
    month_end,
    sponsored_memberships_end_due,
)
from employers.models import (
    ContributionKind,
    Employer,
    EmployerContract,
    Enrollment,
    RosterChange,
    RosterEntry,
)
from employers.signals import roster_entries_terminated
from memberships.models import Member, Membership, MembershipEvent, MembershipStatus, Price
from notifications.models import EmailNotification, NotificationKind
from tests.api_assertions import assert_error
from tests.factories import UserFactory, user_with_role
from tests.memberships.factories import active_membership

pytestmark = pytest.mark.django_db

URL = "/api/v1/enroll/"
MAR_10 = dt.date(2027, 3, 10)
PASSWORD = "a long enough password"


def employer_new(name: str) -> Employer:
    return Employer.objects.create(name=name, billing_email=f"billing@{name.lower()}.test")


def contract(employer: Employer, **fields: Any) -> EmployerContract:
    values: dict[str, Any] = {
        "pepm_cents": 2500,
        "contribution_kind": ContributionKind.FULL,
        "effective_from": dt.date(2027, 1, 1),
    }
    values.update(fields)
    return EmployerContract.objects.create(employer=employer, **values)


def roster_entry(employer: Employer, number: int = 1, **fields: Any) -> RosterEntry:
    values: dict[str, Any] = {
        "external_id": f"E{number:05d}",
        "full_name": f"Worker {number}",
        "work_email": f"worker{number}@acme.test",
        "date_of_birth": dt.date(1990, 5, 17),
        "eligible_from": dt.date(2027, 1, 1),
    }
    values.update(fields)
    return RosterEntry.objects.create(employer=employer, **values)


@pytest.fixture
def acme() -> Employer:
    employer = employer_new("Acme")
    contract(employer)
    return employer


@pytest.fixture
def globex() -> Employer:
    employer = employer_new("Globex")
    contract(employer)
    return employer


def enroll_body(employer: Employer, **overrides: Any) -> dict[str, Any]:
    body = {
        "employer_code": employer.code,
        "work_email": "worker1@acme.test",
        "password": PASSWORD,
        "full_name": "Ada Worker",
        "date_of_birth": "1990-05-17",
        "market": "northeast-ohio",
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def enroll(client: Any, employer: Employer, on: dt.date = MAR_10, **overrides: Any) -> Any:
    with clock.as_of(on):
        return client.post(URL, enroll_body(employer, **overrides))


def terminate(entry: RosterEntry, eligible_until: dt.date, on: dt.date) -> None:
    """What the roster does: set the last eligible day and tell the rest of the system."""
    with clock.as_of(on):
        RosterEntry.objects.filter(pk=entry.pk).update(eligible_until=eligible_until)
        roster_entries_terminated.send(sender=RosterEntry, entry_ids=[entry.pk], actor=None)


# --- enroll ------------------------------------------------------------------------------------


def test_enroll_by_work_email_in_any_case_gives_an_active_sponsored_membership(api_client, acme):
    entry = roster_entry(acme)

    response = enroll(api_client, acme, work_email="Worker1@ACME.test")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["membership"] | {"id": None} == {
        "id": None,
        "status": "active",
        "price_code": "employer_sponsored",
        "amount_cents": 0,
        "currency": "usd",
        "interval": "month",
        "current_period_start": "2027-03-10",
        "current_period_end": "2027-03-31",
    }
    assert body["member"]["email"] == "worker1@acme.test"
    assert body["member_share_cents"] == 0
    membership = Membership.objects.get()
    assert membership.sponsor == acme
    enrollment = Enrollment.objects.get()
    assert (enrollment.entry, enrollment.membership, enrollment.starts_on) == (
        entry,
        membership,
        MAR_10,
    )
    assert enrollment.ends_on is None
    events = MembershipEvent.objects.order_by("id").values_list("kind", "to_status")
    assert list(events) == [("enrolled", "pending"), ("sponsorship_started", "active")]
    change = RosterChange.objects.get()
    assert (change.kind, change.entry, change.actor) == ("enrolled", entry, User.objects.get())
    assert change.changes["starts_on"] == [None, "2027-03-10"]
    notification = EmailNotification.objects.get()
    assert notification.kind == NotificationKind.ENROLLMENT_CONFIRMED
    assert notification.context["employer"] == "Acme"
    assert not Invoice.objects.exists()  # nothing is charged at enrollment
    customer = BillingCustomer.objects.get(user__email="worker1@acme.test")
    assert customer.payment_method_to_attach == ""
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert api_client.get("/api/v1/me/membership/").json()["id"] == membership.pk


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("cancel/", {"when": "now"}),
        ("cancel/", {"when": "period_end"}),
        ("resume/", {}),
        ("change-plan/", {"price_code": "standard_annual"}),
    ],
)
def test_a_sponsored_member_cannot_cancel_resume_or_change_plan(api_client, acme, path, body):
    roster_entry(acme)
    token = enroll(api_client, acme).json()["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    with clock.as_of(MAR_10):
        response = api_client.post(f"/api/v1/me/membership/{path}", body, format="json")

    assert response.status_code == 409, response.content
    assert response.json()["error"]["details"] == {"sponsored": True}
    membership = Membership.objects.get()
    assert (membership.status, membership.cancel_at_period_end, membership.next_price) == (
        "active",
        False,
        None,
    )


def test_enroll_by_external_id_and_date_of_birth(api_client, acme):
    entry = roster_entry(acme, work_email="someone@acme.test")

    response = enroll(api_client, acme, work_email=None, external_id=entry.external_id)

    assert response.status_code == 201, response.content
    assert response.json()["member"]["email"] == "someone@acme.test"  # the login is the roster's
    assert Enrollment.objects.get().entry == entry


@pytest.mark.parametrize(
    ("entry_fields", "overrides"),
    [
        ({}, {"work_email": None, "external_id": "E00001", "date_of_birth": "1990-05-18"}),
        ({}, {"date_of_birth": "1990-05-18"}),  # the right work email is not enough
        ({}, {"work_email": None, "external_id": "E99999"}),
        ({}, {"work_email": "nobody@acme.test"}),
        ({"eligible_from": dt.date(2027, 4, 1)}, {}),  # not yet eligible
        ({"eligible_until": dt.date(2027, 3, 9)}, {}),  # terminated
    ],
    ids=[
        "wrong-dob",
        "right-email-wrong-dob",
        "unknown-external-id",
        "unknown-email",
        "not-yet-eligible",
        "terminated",
    ],
)
def test_every_identity_mismatch_is_one_generic_error(api_client, acme, entry_fields, overrides):
    roster_entry(acme, **entry_fields)
    unknown = enroll(api_client, acme, work_email="never-heard-of@acme.test")

    response = enroll(api_client, acme, **overrides)

    error = assert_error(response, 404, "no_eligible_employee")
    assert response.json() == unknown.json()
    assert error["details"] == {}
    assert not User.objects.exists()
    assert not Membership.objects.exists()


def test_an_entry_of_another_employer_does_not_match(api_client, acme, globex):
    roster_entry(globex)

    assert_error(enroll(api_client, acme), 404, "no_eligible_employee")


@pytest.mark.parametrize("case", ["unknown", "no-contract-in-force"])
def test_a_wrong_code_or_a_contract_not_in_force_is_refused(api_client, acme, case):
    roster_entry(acme)
    if case == "unknown":
        response = enroll(api_client, acme, employer_code="ZZZZ-ZZZZ")
    else:
        EmployerContract.objects.filter(employer=acme).update(effective_until=MAR_10)
        response = enroll(api_client, acme)

    assert_error(response, 404, "employer_code_invalid")
    assert not Membership.objects.exists()


def test_double_enrollment_is_409(api_client, acme):
    roster_entry(acme)
    assert enroll(api_client, acme).status_code == 201

    again = enroll(api_client, acme, on=MAR_10 + dt.timedelta(days=3))
    by_id = enroll(api_client, acme, work_email=None, external_id="E00001")

    assert_error(again, 409, "already_enrolled")
    assert_error(by_id, 409, "already_enrolled")
    assert Membership.objects.count() == Enrollment.objects.count() == 1


def test_an_individual_member_is_told_to_end_that_membership_first(api_client, acme):
    individual = active_membership(code="standard_annual", start=dt.date(2027, 1, 5))
    member_email = individual.member.user.email
    roster_entry(acme, work_email=member_email)

    response = enroll(
        api_client, acme, work_email=member_email, password="correct horse battery staple"
    )

    error = assert_error(response, 409, "individual_membership_exists")
    assert error["details"]["cancel_url"] == "/api/v1/me/membership/cancel/"
    assert "cancel" in error["message"]
    assert not Enrollment.objects.exists()


def test_a_former_member_enrolls_with_their_password(api_client, acme):
    old = active_membership(code="standard_annual", start=dt.date(2026, 1, 5))
    Membership.objects.filter(pk=old.pk).update(status=MembershipStatus.CANCELED)
    email = old.member.user.email
    roster_entry(acme, work_email=email)

    wrong = enroll(api_client, acme, work_email=email)
    right = enroll(api_client, acme, work_email=email, password="correct horse battery staple")

    assert_error(wrong, 409, "conflict")
    assert right.status_code == 201, right.content
    assert Member.objects.count() == 1
    assert Membership.objects.get(status=MembershipStatus.ACTIVE).member == old.member


def test_a_member_share_needs_a_card_which_is_attached_through_the_outbox(api_client):
    employer = employer_new("Initech")
    contract(employer, contribution_kind=ContributionKind.FIXED, contribution_cents=1500)
    roster_entry(employer)

    without = enroll(api_client, employer)
    response = enroll(api_client, employer, payment_method_id="pm_card_visa")

    error = assert_error(without, 400, "invalid")
    assert "payment_method_id" in error["details"]
    assert response.status_code == 201, response.content
    assert response.json()["member_share_cents"] == 1000
    customer = BillingCustomer.objects.get()
    assert customer.payment_method_to_attach == "pm_card_visa"
    sync = StripeCommand.objects.get(customer=customer)
    assert (sync.kind, sync.payload) == ("customer_sync", {"payment_method_id": "pm_card_visa"})
    assert not Invoice.objects.exists()


def test_enroll_replays_an_idempotent_retry(api_client, acme):
    roster_entry(acme)

    with clock.as_of(MAR_10):
        first = api_client.post(URL, enroll_body(acme), HTTP_IDEMPOTENCY_KEY="enroll-1")
        second = api_client.post(URL, enroll_body(acme), HTTP_IDEMPOTENCY_KEY="enroll-1")

    assert first.status_code == second.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    assert Enrollment.objects.count() == 1


# --- end of sponsorship ------------------------------------------------------------------------


def test_termination_ends_coverage_at_month_end_and_the_daily_run_cancels_the_next_day(
    api_client, acme
):
    entry = roster_entry(acme)
    assert enroll(api_client, acme).status_code == 201
    membership = Membership.objects.get()

    terminate(entry, eligible_until=dt.date(2027, 3, 20), on=dt.date(2027, 3, 15))

    enrollment = Enrollment.objects.get()
    assert enrollment.ends_on == dt.date(2027, 3, 31)
    change = RosterChange.objects.get(kind="enrollment_ended")
    assert change.changes == {"ends_on": [None, "2027-03-31"]}
    event = MembershipEvent.objects.get(kind="sponsorship_ending")
    assert event.data["ends_on"] == "2027-03-31"
    notice = EmailNotification.objects.get(kind=NotificationKind.SPONSORSHIP_ENDING)
    assert notice.context["ends_on"] == "March 31, 2027"
    assert notice.user == membership.member.user

    with clock.as_of(dt.date(2027, 3, 31)):
        assert sponsored_memberships_end_due(as_of=dt.date(2027, 3, 31)).ended == 0
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.ACTIVE

    call_command("sponsored_memberships_end", "--as-of", "2027-04-01")
    call_command("sponsored_memberships_end", "--as-of", "2027-04-02")  # a re-run: nothing

    membership.refresh_from_db()
    assert membership.status == MembershipStatus.CANCELED
    ended = MembershipEvent.objects.filter(membership=membership, kind="sponsorship_ended").get()
    assert (ended.from_status, ended.to_status) == ("active", "canceled")
    assert ended.created_at.date() == dt.date(2027, 4, 1)


def test_the_same_termination_twice_changes_nothing_and_a_new_date_moves_the_end(api_client, acme):
    entry = roster_entry(acme)
    assert enroll(api_client, acme).status_code == 201
    terminate(entry, eligible_until=dt.date(2027, 3, 20), on=dt.date(2027, 3, 15))
    terminate(entry, eligible_until=dt.date(2027, 3, 20), on=dt.date(2027, 3, 16))

    assert RosterChange.objects.filter(kind="enrollment_ended").count() == 1

    terminate(entry, eligible_until=dt.date(2027, 4, 2), on=dt.date(2027, 3, 17))

    assert Enrollment.objects.get().ends_on == dt.date(2027, 4, 30)
    latest = RosterChange.objects.filter(kind="enrollment_ended").latest("id")
    assert latest.changes == {"ends_on": ["2027-03-31", "2027-04-30"]}
    assert EmailNotification.objects.filter(kind="sponsorship_ending").count() == 2


def test_a_termination_dated_before_the_enrollment_covers_the_month_it_started(api_client, acme):
    entry = roster_entry(acme)
    assert enroll(api_client, acme).status_code == 201

    terminate(entry, eligible_until=dt.date(2027, 2, 10), on=dt.date(2027, 3, 12))

    assert Enrollment.objects.get().ends_on == dt.date(2027, 3, 31)


def _enrolled(employer: Employer, number: int, price: Price) -> RosterEntry:
    entry = roster_entry(employer, number)
    user = UserFactory.create()
    member = Member.objects.create(user=user, date_of_birth=entry.date_of_birth)
    membership = Membership.objects.create(
        member=member,
        price=price,
        sponsor=employer,
        status=MembershipStatus.ACTIVE,
        current_period_start=dt.date(2027, 2, 1),
        current_period_end=dt.date(2027, 2, 28),
    )
    Enrollment.objects.create(
        employer=employer, entry=entry, membership=membership, starts_on=dt.date(2027, 2, 1)
    )
    return entry


def _terminate_counting_queries(entries: list[RosterEntry]) -> int:
    RosterEntry.objects.filter(pk__in=[e.pk for e in entries]).update(
        eligible_until=dt.date(2027, 3, 5)
    )
    with clock.as_of(dt.date(2027, 3, 1)), CaptureQueriesContext(connection) as queries:
        ended = enrollments_end_for_terminated_entries(entry_ids=[e.pk for e in entries])
    assert ended == len(entries)
    return len(queries)


def test_bulk_termination_takes_a_fixed_number_of_queries(acme):
    price = Price.objects.get(code="employer_sponsored")
    few = [_enrolled(acme, n, price) for n in range(1, 4)]
    many = [_enrolled(acme, n, price) for n in range(100, 400)]

    few_queries = _terminate_counting_queries(few)
    many_queries = _terminate_counting_queries(many)

    assert many_queries == few_queries
    ends = set(Enrollment.objects.values_list("ends_on", flat=True))
    assert ends == {dt.date(2027, 3, 31)}
    assert RosterChange.objects.filter(kind="enrollment_ended").count() == 303
    assert MembershipEvent.objects.filter(kind="sponsorship_ending").count() == 303
    assert EmailNotification.objects.filter(kind="sponsorship_ending").count() == 303


def test_month_end():
    assert month_end(dt.date(2028, 2, 3)) == dt.date(2028, 2, 29)
    assert month_end(dt.date(2027, 12, 31)) == dt.date(2027, 12, 31)


# --- the employer admin's list -----------------------------------------------------------------


def test_an_employer_admin_lists_their_enrollments_and_gets_404_for_another(
    api_client, client_for, acme, globex
):
    roster_entry(acme)
    assert enroll(api_client, acme).status_code == 201
    acme_admin = client_for(user_with_role(Role.EMPLOYER_ADMIN, employer=acme))
    globex_admin = client_for(user_with_role(Role.EMPLOYER_ADMIN, employer=globex))

    listed = acme_admin.get(f"/api/v1/employers/{acme.id}/enrollments/")
    other = globex_admin.get(f"/api/v1/employers/{acme.id}/enrollments/")
    missing = globex_admin.get("/api/v1/employers/999999/enrollments/")

    assert listed.status_code == 200
    [row] = listed.json()["results"]
    assert row | {"id": None, "entry_id": None} == {
        "id": None,
        "entry_id": None,
        "external_id": "E00001",
        "full_name": "Worker 1",
        "work_email": "worker1@acme.test",
        "starts_on": "2027-03-10",
        "ends_on": None,
    }
    assert_error(other, 404, "not_found")
    assert other.json() == missing.json()
    assert globex_admin.get(f"/api/v1/employers/{globex.id}/enrollments/").json()["count"] == 0


def test_the_enrollment_list_refuses_members_and_anonymous(api_client, client_for, acme):
    member = client_for(user_with_role(Role.MEMBER))

    assert_error(member.get(f"/api/v1/employers/{acme.id}/enrollments/"), 403, "permission_denied")
    assert_error(
        api_client.get(f"/api/v1/employers/{acme.id}/enrollments/"), 401, "not_authenticated"
    )


def test_conversion_refuses_an_employer_admin_and_a_sponsorship_that_is_not_ending(
    api_client, client_for, acme
):
    roster_entry(acme)
    token = enroll(api_client, acme).json()["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    admin = client_for(user_with_role(Role.EMPLOYER_ADMIN, employer=acme))
    body = {"price_code": "standard_annual", "payment_method_id": "pm_card_visa"}

    assert_error(admin.post("/api/v1/me/membership/convert/", body), 403, "permission_denied")
    with clock.as_of(MAR_10):
        refused = api_client.post("/api/v1/me/membership/convert/", body)
    assert_error(refused, 409, "not_convertible")


# --- conversion through the Stripe emulator ----------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_conversion_after_the_end_is_charged_and_active(api_client, stripe_emulator, acme):
    entry = roster_entry(acme)
    token = enroll(api_client, acme).json()["token"]
    terminate(entry, eligible_until=dt.date(2027, 3, 20), on=dt.date(2027, 3, 15))
    with clock.as_of(dt.date(2027, 4, 1)):
        sponsored_memberships_end_due(as_of=dt.date(2027, 4, 1))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    with clock.as_of(dt.date(2027, 4, 3)):
        response = api_client.post(
            "/api/v1/me/membership/convert/",
            {"price_code": "standard_annual", "payment_method_id": "pm_card_visa"},
        )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["scheduled"] is False
    assert body["membership"]["status"] == "active"
    assert body["membership"]["current_period_start"] == "2027-04-03"
    individual = Membership.objects.get(pk=body["membership"]["id"])
    assert individual.sponsor is None
    assert individual.price.code == "standard_annual"
    invoice = Invoice.objects.get()
    assert (invoice.status, invoice.total_cents) == (InvoiceStatus.PAID, 19900)
    [in_stripe] = list(stripe_gateway().invoices_list())
    assert (in_stripe.status, in_stripe.amount_paid) == ("paid", 19900)
    kinds = list(individual.events.order_by("id").values_list("kind", flat=True))
    assert kinds == ["converted_from_sponsored", "activated"]


@pytest.mark.django_db(transaction=True)
def test_conversion_while_ending_starts_the_day_after_the_end(api_client, stripe_emulator, acme):
    entry = roster_entry(acme)
    token = enroll(api_client, acme).json()["token"]
    terminate(entry, eligible_until=dt.date(2027, 3, 20), on=dt.date(2027, 3, 15))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    with clock.as_of(dt.date(2027, 3, 25)):
        response = api_client.post(
            "/api/v1/me/membership/convert/",
            {"price_code": "prime_monthly", "payment_method_id": "pm_card_visa"},
        )
        prime = api_client.post(
            "/api/v1/me/membership/convert/",
            {
                "price_code": "prime_monthly",
                "payment_method_id": "pm_card_visa",
                "prime_token": "prime_valid",
            },
        )

    assert_error(response, 400, "prime_not_verified")
    assert prime.status_code == 202, prime.content
    assert (prime.json()["scheduled"], prime.json()["starts_on"]) == (True, "2027-04-01")
    with clock.as_of(dt.date(2027, 4, 1)):
        report = sponsored_memberships_end_due(as_of=dt.date(2027, 4, 1))
        stripe_outbox_push(run_seconds=10)

    assert (report.ended, report.converted) == (1, 1)
    sponsored = Membership.objects.get(sponsor=acme)
    assert sponsored.status == MembershipStatus.CANCELED
    individual = Membership.objects.get(sponsor__isnull=True)
    assert individual.status == MembershipStatus.ACTIVE
    assert (individual.price.code, individual.current_period_start) == (
        "prime_monthly",
        dt.date(2027, 4, 1),
    )
    invoice = Invoice.objects.get()
    assert (invoice.status, invoice.total_cents) == (InvoiceStatus.PAID, 900)
