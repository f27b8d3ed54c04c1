"""Idempotency-Key on opted-in views, through the HTTP stack: what is stored, what is replayed,
what is refused, and that the view's side effect happens once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from config import clock
from idempotency.models import IdempotencyRecord, IdempotencyRecordStatus
from partners.models import Partner
from tests.api_assertions import assert_error
from tests.factories import UserFactory
from tests.idempotency.urls import (
    PARTNERS_URL,
    PRIVATE_PARTNERS_URL,
    USERS_URL,
    flaky_url,
    handler_calls,
    partner_url,
)

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.idempotency.urls")]

NAME = "Idempotency Test Health"


def post(client: APIClient, url: str, body: Any, key: str | None = "key-1") -> Any:
    headers = {} if key is None else {"Idempotency-Key": key}
    return client.post(url, body, format="json", headers=headers)


def post_raw(client: APIClient, url: str, raw_json: str, key: str = "key-1") -> Any:
    return client.post(
        url, raw_json, content_type="application/json", headers={"Idempotency-Key": key}
    )


# --- first request, replay ----------------------------------------------------------------------


def test_the_first_request_runs_the_view_and_stores_its_answer(api_client):
    response = post(api_client, PARTNERS_URL, {"name": NAME})

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert handler_calls["partner_create"] == 1
    partner = Partner.objects.get(name=NAME)
    record = IdempotencyRecord.objects.get()
    assert (record.key, record.method, record.path) == ("key-1", "POST", PARTNERS_URL)
    assert record.user is None
    assert record.status == IdempotencyRecordStatus.COMPLETED
    assert record.response_status == 201
    assert bytes(record.response_body) == response.content
    assert record.response_headers == {
        "Content-Type": "application/json",
        "Location": partner_url(partner.pk),
    }
    assert record.expires_at == record.created_at + timedelta(hours=24)


def test_a_repeat_replays_the_identical_answer_without_running_the_view(api_client):
    first = post(api_client, PARTNERS_URL, {"name": NAME, "note": "n"})

    # The same request again: key order and spacing do not make it a different request.
    again = post_raw(api_client, PARTNERS_URL, f'{{ "note": "n",   "name": "{NAME}" }}')

    assert again.status_code == first.status_code == 201
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"]
    assert again["Location"] == first["Location"]
    assert again["Idempotent-Replayed"] == "true"
    assert handler_calls["partner_create"] == 1
    assert Partner.objects.filter(name=NAME).count() == 1


def test_a_replay_carries_only_the_allow_listed_headers(api_client):
    first = post(api_client, PARTNERS_URL, {"name": NAME})
    assert first["X-Internal-Trace"] == "not-for-replay"
    assert "session-ish" in first.cookies

    again = post(api_client, PARTNERS_URL, {"name": NAME})

    assert again["Idempotent-Replayed"] == "true"
    assert "X-Internal-Trace" not in again
    assert "session-ish" not in again.cookies
    assert not again.has_header("Set-Cookie")


def test_a_delete_is_replayed_as_its_empty_204(api_client):
    partner = Partner.objects.create(name=NAME)

    first = api_client.delete(partner_url(partner.pk), headers={"Idempotency-Key": "del-1"})
    again = api_client.delete(partner_url(partner.pk), headers={"Idempotency-Key": "del-1"})

    assert first.status_code == again.status_code == 204
    assert again.content == first.content == b""
    assert "Content-Type" not in again
    assert again["Idempotent-Replayed"] == "true"
    assert handler_calls["partner_delete"] == 1
    # Without the replay the second delete would have been a 404:
    assert_error(api_client.delete(partner_url(partner.pk)), 404, "not_found")


# --- different parameters, errors from the view, failures -----------------------------------------


def test_the_same_key_with_another_body_is_refused_and_runs_nothing(api_client):
    post(api_client, PARTNERS_URL, {"name": NAME})

    response = post(api_client, PARTNERS_URL, {"name": "Another Health"})

    error = assert_error(response, 422, "idempotency_key_reused")
    assert "different parameters" in error["message"]
    assert "Idempotent-Replayed" not in response
    assert handler_calls["partner_create"] == 1
    assert not Partner.objects.filter(name="Another Health").exists()


def test_the_same_key_with_another_query_string_is_refused(api_client):
    post(api_client, PARTNERS_URL, {"name": NAME})

    response = post(api_client, f"{PARTNERS_URL}?dry_run=1", {"name": NAME})

    assert_error(response, 422, "idempotency_key_reused")
    assert handler_calls["partner_create"] == 1


def test_a_domain_error_from_the_view_is_stored_and_replayed(api_client):
    taken = Partner.objects.create(name=NAME)
    first = post(api_client, PARTNERS_URL, {"name": NAME})
    assert_error(first, 409, "conflict")

    taken.delete()  # the view would now succeed, were it run again
    again = post(api_client, PARTNERS_URL, {"name": NAME})

    assert_error(again, 409, "conflict")
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert handler_calls["partner_create"] == 1
    assert not Partner.objects.filter(name=NAME).exists()


def test_a_validation_error_from_the_view_is_stored_and_replayed(api_client):
    first = post(api_client, PARTNERS_URL, {"name": ""})
    again = post(api_client, PARTNERS_URL, {"name": ""})

    assert_error(first, 400, "invalid")
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert handler_calls["partner_create"] == 1


@pytest.mark.parametrize(("mode", "status"), [("raise", 500), ("answer503", 503)])
def test_a_failure_is_not_stored_and_the_retry_runs_the_view_again(mode, status):
    client = APIClient(raise_request_exception=False)

    failed = post(client, flaky_url(mode), {"name": NAME})

    assert failed.status_code == status
    assert not IdempotencyRecord.objects.exists()  # released: the key is free again

    retried = post(client, flaky_url(mode), {"name": NAME})

    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried
    assert handler_calls[f"flaky_{mode}"] == 2
    assert IdempotencyRecord.objects.get().status == IdempotencyRecordStatus.COMPLETED

    replayed = post(client, flaky_url(mode), {"name": NAME})

    assert replayed.content == retried.content
    assert replayed["Idempotent-Replayed"] == "true"
    assert handler_calls[f"flaky_{mode}"] == 2
    assert Partner.objects.filter(name__startswith=NAME).count() == 1


def test_refusals_before_the_view_runs_are_not_stored(api_client):
    unauthenticated = post(api_client, PRIVATE_PARTNERS_URL, {"name": NAME})
    malformed = post_raw(api_client, PARTNERS_URL, '{"name": ')

    assert_error(unauthenticated, 401, "not_authenticated")
    assert_error(malformed, 400, "parse_error")
    assert not IdempotencyRecord.objects.exists()

    # The key is still free: the corrected request runs.
    response = post(api_client, PARTNERS_URL, {"name": NAME})
    assert response.status_code == 201
    assert handler_calls["partner_create"] == 1


def test_requests_without_the_header_are_untouched(api_client):
    first = post(api_client, PARTNERS_URL, {"name": NAME}, key=None)
    second = post(api_client, PARTNERS_URL, {"name": NAME}, key=None)

    assert first.status_code == 201
    assert_error(second, 409, "conflict")
    assert handler_calls["partner_create"] == 2
    assert not IdempotencyRecord.objects.exists()


def test_safe_methods_ignore_the_header(api_client):
    partner = Partner.objects.create(name=NAME)

    for _ in range(2):
        response = api_client.get(partner_url(partner.pk), headers={"Idempotency-Key": "get"})
        assert response.status_code == 200
        assert "Idempotent-Replayed" not in response

    assert handler_calls["partner_get"] == 2
    assert not IdempotencyRecord.objects.exists()


# --- the key itself -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "",
        " leading-space",
        "trailing-space ",
        "k" * 256,
        "tab\there",
        "caf\u00e9",
        "del\x7f",
    ],
    ids=["empty", "leading-space", "trailing-space", "256-chars", "tab", "non-ascii", "del"],
)
def test_a_malformed_key_is_a_400_and_runs_nothing(api_client, key):
    response = post(api_client, PARTNERS_URL, {"name": NAME}, key=key)

    error = assert_error(response, 400, "invalid_idempotency_key")
    assert "Idempotency-Key" in error["message"]
    assert handler_calls["partner_create"] == 0
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.parametrize("key", ["k", "k" * 255, "inner space ok", "~!#$%&'*+-.^_`|0aZ"])
def test_well_formed_keys_are_accepted(api_client, key):
    first = post(api_client, PARTNERS_URL, {"name": NAME}, key=key)
    again = post(api_client, PARTNERS_URL, {"name": NAME}, key=key)

    assert first.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert IdempotencyRecord.objects.get().key == key


# --- scope ----------------------------------------------------------------------------------------


def test_one_users_key_does_not_replay_for_another_user(client_for):
    alice, bob = UserFactory.create(), UserFactory.create()
    as_alice, as_bob = client_for(alice), client_for(bob)
    alices = post(as_alice, PRIVATE_PARTNERS_URL, {"name": NAME})

    bobs = post(as_bob, PRIVATE_PARTNERS_URL, {"name": NAME})  # same key, same body

    assert alices.status_code == 201
    assert_error(bobs, 409, "conflict")  # the view ran for Bob: the name is taken
    assert "Idempotent-Replayed" not in bobs
    assert handler_calls["private_partner_create"] == 2
    assert set(IdempotencyRecord.objects.values_list("user", "response_status")) == {
        (alice.pk, 201),
        (bob.pk, 409),
    }
    # Each still gets their own answer back.
    assert post(as_alice, PRIVATE_PARTNERS_URL, {"name": NAME}).content == alices.content
    assert post(as_bob, PRIVATE_PARTNERS_URL, {"name": NAME}).content == bobs.content
    assert handler_calls["private_partner_create"] == 2


def test_anonymous_and_authenticated_callers_do_not_share_keys(api_client, client_for):
    anonymous = post(api_client, PARTNERS_URL, {"name": NAME})
    authenticated = post(client_for(UserFactory.create()), PARTNERS_URL, {"name": NAME})

    assert anonymous.status_code == 201
    assert_error(authenticated, 409, "conflict")
    assert "Idempotent-Replayed" not in authenticated
    assert handler_calls["partner_create"] == 2


def test_anonymous_callers_share_one_namespace_but_only_for_the_identical_request():
    first = post(APIClient(), PARTNERS_URL, {"name": NAME})

    same = post(APIClient(), PARTNERS_URL, {"name": NAME})
    different = post(APIClient(), PARTNERS_URL, {"name": "Another Health"})

    assert first.status_code == 201
    assert same["Idempotent-Replayed"] == "true"
    assert same.content == first.content
    assert_error(different, 422, "idempotency_key_reused")
    assert handler_calls["partner_create"] == 1


def test_a_key_is_scoped_to_method_and_path(api_client):
    partner = Partner.objects.create(name=NAME)
    created = post(api_client, PARTNERS_URL, {"name": "Another Health"}, key="shared")

    renamed = api_client.put(
        partner_url(partner.pk), {"name": "Renamed"}, headers={"Idempotency-Key": "shared"}
    )
    deleted = api_client.delete(partner_url(partner.pk), headers={"Idempotency-Key": "shared"})

    assert created.status_code == 201
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Renamed"
    assert deleted.status_code == 204
    assert (
        handler_calls["partner_create"],
        handler_calls["partner_put"],
        handler_calls["partner_delete"],
    ) == (1, 1, 1)
    assert IdempotencyRecord.objects.filter(key="shared").count() == 3


def test_deleting_a_user_deletes_their_records(client_for):
    user = UserFactory.create()
    post(client_for(user), PRIVATE_PARTNERS_URL, {"name": NAME})
    assert IdempotencyRecord.objects.filter(user=user).exists()

    User.objects.filter(pk=user.pk).delete()

    assert not IdempotencyRecord.objects.exists()


# --- expiry ---------------------------------------------------------------------------------------


def test_an_expired_key_is_treated_as_new(api_client, settings):
    settings.IDEMPOTENCY_KEY_TTL = timedelta(hours=1)
    first = post(api_client, PARTNERS_URL, {"name": NAME})
    Partner.objects.filter(name=NAME).delete()
    created_at = IdempotencyRecord.objects.get().created_at

    with clock.as_of(created_at + timedelta(minutes=59)):
        within = post(api_client, PARTNERS_URL, {"name": NAME})
    with clock.as_of(created_at + timedelta(hours=1)):
        after = post(api_client, PARTNERS_URL, {"name": NAME})

    assert within["Idempotent-Replayed"] == "true"
    assert after.status_code == 201
    assert "Idempotent-Replayed" not in after
    assert after.json()["id"] != first.json()["id"]
    assert handler_calls["partner_create"] == 2
    record = IdempotencyRecord.objects.get()
    assert record.created_at == created_at + timedelta(hours=1)
    assert bytes(record.response_body) == after.content


def test_an_expired_key_may_be_reused_with_other_parameters(api_client):
    post(api_client, PARTNERS_URL, {"name": NAME})

    with clock.as_of(timezone.now() + timedelta(hours=24, seconds=1)):
        response = post(api_client, PARTNERS_URL, {"name": "Another Health"})

    assert response.status_code == 201
    assert handler_calls["partner_create"] == 2


# --- what is stored -------------------------------------------------------------------------------


def test_the_stored_record_never_holds_the_request_body(api_client):
    password = "Zebra-Quartz-7781-unguessable"
    body = {"email": "new.member@example.test", "password": password}

    response = post(api_client, USERS_URL, body)

    assert response.status_code == 201
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(r)::text FROM idempotency_idempotencyrecord r")
        [(row,)] = cursor.fetchall()
    assert password not in row
    assert password.encode().hex() not in row  # bytea columns come out as hex
    record = IdempotencyRecord.objects.get()
    assert password.encode() not in bytes(record.response_body)
    assert len(record.fingerprint) == 64
    # The replay is for the identical request only, password included.
    wrong_password = post(api_client, USERS_URL, {**body, "password": "guess"})
    assert_error(wrong_password, 422, "idempotency_key_reused")
