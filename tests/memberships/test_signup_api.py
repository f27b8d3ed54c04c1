"""Sign-up through the API, charging through the real Stripe rail (the emulator over HTTP)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
import requests

from accounts.models import User
from billing.models import Invoice, InvoiceStatus, Payment, PaymentStatus
from billing.stripe_gateway import stripe_gateway
from config import clock
from memberships.models import Membership, MembershipEvent, MembershipStatus, PrimeVerification
from memberships.periods import period_end
from tests.api_assertions import assert_error

# Sign-up pushes to Stripe outside any transaction, so these tests commit for real (the seeded
# catalog and markets are restored after each one, see tests/conftest.py).
pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/signup/"


@pytest.fixture(autouse=True)
def _stripe(stripe_emulator):
    return stripe_emulator


def signup_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "email": "ada@example.test",
        "password": "a long enough password",
        "full_name": "Ada Lovelace",
        "date_of_birth": "1985-12-10",
        "market": "northeast-ohio",
        "price_code": "standard_annual",
        "payment_method_id": "pm_card_visa",
    }
    body.update(overrides)
    return body


def test_standard_annual_signup_is_charged_and_active(api_client):
    response = api_client.post(URL, signup_body())

    assert response.status_code == 201, response.content
    body = response.json()
    today = clock.today()
    assert body["membership"] | {"id": None} == {
        "id": None,
        "status": "active",
        "price_code": "standard_annual",
        "amount_cents": 19900,
        "currency": "usd",
        "interval": "year",
        "current_period_start": today.isoformat(),
        "current_period_end": period_end(today, "year").isoformat(),
    }
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    me = api_client.get("/api/v1/me/").json()
    assert me["email"] == "ada@example.test"
    assert [grant["role"] for grant in me["roles"]] == ["member"]
    invoice = Invoice.objects.get()
    assert (invoice.status, invoice.total_cents) == (InvoiceStatus.PAID, 19900)
    [in_stripe] = list(stripe_gateway().invoices_list())
    assert (in_stripe.status, in_stripe.amount_paid) == ("paid", 19900)
    kinds = list(MembershipEvent.objects.order_by("id").values_list("kind", flat=True))
    assert kinds == ["signed_up", "activated"]


def test_prime_monthly_signup_needs_and_records_a_verified_prime_token(api_client):
    response = api_client.post(
        URL, signup_body(price_code="prime_monthly", prime_token="prime_valid")
    )

    assert response.status_code == 201, response.content
    assert response.json()["membership"]["amount_cents"] == 900
    check = PrimeVerification.objects.get()
    assert check.status == "verified"
    assert "prime_valid" not in check.token_fingerprint


@pytest.mark.parametrize(
    ("token", "prime_status"),
    [("", None), ("prime_expired", "expired"), ("nonsense", "invalid")],
)
def test_prime_prices_refuse_unverified_members_and_create_nothing(api_client, token, prime_status):
    response = api_client.post(URL, signup_body(price_code="prime_annual", prime_token=token))

    error = assert_error(response, 400, "prime_not_verified")
    assert error["details"].get("prime_status") == prime_status
    assert not User.objects.exists()
    assert not Membership.objects.exists()


def test_a_declined_card_activates_nothing_and_a_new_card_completes_the_same_signup(api_client):
    declined = api_client.post(
        URL, signup_body(payment_method_id="pm_card_chargeDeclinedInsufficientFunds")
    )

    error = assert_error(declined, 402, "card_declined")
    assert error["details"]["decline_code"] == "insufficient_funds"
    assert error["details"]["membership_status"] == "pending"
    assert not Membership.objects.filter(status=MembershipStatus.ACTIVE).exists()

    retried = api_client.post(URL, signup_body(payment_method_id="pm_card_visa"))

    assert retried.status_code == 201, retried.content
    assert retried.json()["membership"]["status"] == "active"
    assert User.objects.count() == 1
    assert Membership.objects.get().status == MembershipStatus.ACTIVE
    statuses = sorted(Payment.objects.values_list("status", flat=True))
    assert statuses == [PaymentStatus.FAILED, PaymentStatus.SUCCEEDED]
    assert len(list(stripe_gateway().invoices_list())) == 1  # the same invoice, charged again


def test_an_existing_member_cannot_sign_up_again(api_client):
    assert api_client.post(URL, signup_body()).status_code == 201

    again = api_client.post(URL, signup_body(email="ADA@example.test"))
    other_password = api_client.post(URL, signup_body(password="somebody else entirely"))

    assert_error(again, 409, "conflict")
    assert_error(other_password, 409, "conflict")
    assert Membership.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"password": "short"}, "password"),
        ({"date_of_birth": (clock.today() + dt.timedelta(days=2)).isoformat()}, "date_of_birth"),
        ({"payment_method_id": "4242424242424242"}, "payment_method_id"),
        ({"market": "atlantis"}, "market"),
        ({"price_code": "gold_plated"}, "price_code"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(api_client, overrides, field):
    response = api_client.post(URL, signup_body(**overrides))

    error = assert_error(response, 400, "invalid")
    assert field in error["details"]
    assert not User.objects.exists()


def test_the_same_signup_sent_twice_with_one_idempotency_key_makes_one_member_and_one_charge(
    api_client,
):
    first = api_client.post(URL, signup_body(), HTTP_IDEMPOTENCY_KEY="signup-ada-1")
    second = api_client.post(URL, signup_body(), HTTP_IDEMPOTENCY_KEY="signup-ada-1")

    assert first.status_code == second.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert User.objects.count() == 1
    assert Payment.objects.filter(status=PaymentStatus.SUCCEEDED).count() == 1
    assert len(list(stripe_gateway().invoices_list())) == 1


def test_concurrent_identical_signups_with_one_key_make_one_member(live_server):
    results: list[int] = []
    start = threading.Barrier(8)

    def attempt() -> None:
        start.wait()
        response = requests.post(
            f"{live_server.url}{URL}",
            json=signup_body(),
            headers={"Idempotency-Key": "signup-ada-concurrent"},
            timeout=60,
        )
        results.append(response.status_code)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert set(results) <= {201, 409}  # the first, its replays, or "still in progress"
    assert 201 in results
    assert User.objects.count() == 1
    assert Payment.objects.filter(status=PaymentStatus.SUCCEEDED).count() == 1
    assert len(list(stripe_gateway().invoices_list())) == 1
