from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AccessToken
from accounts.services import token_digest
from tests.api_assertions import assert_error
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"
ME_URL = "/api/v1/me/"


def test_login_returns_a_bearer_token_that_authenticates(api_client):
    user = UserFactory(email="ada@example.test")

    response = api_client.post(TOKEN_URL, {"email": "ada@example.test", "password": TEST_PASSWORD})

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["user"]["email"] == "ada@example.test"
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    me = api_client.get(ME_URL)
    assert me.status_code == 200
    assert me.json()["id"] == user.id
    user.refresh_from_db()
    assert user.last_login is not None


def test_only_the_token_digest_is_stored(api_client):
    UserFactory(email="ada@example.test")
    token = api_client.post(
        TOKEN_URL, {"email": "ada@example.test", "password": TEST_PASSWORD}
    ).json()["token"]

    stored = AccessToken.objects.get()
    assert stored.digest == token_digest(token)
    assert token not in stored.digest


def test_login_email_is_case_insensitive(api_client):
    UserFactory(email="ada@example.test")

    response = api_client.post(TOKEN_URL, {"email": " ADA@Example.TEST", "password": TEST_PASSWORD})

    assert response.status_code == 201, response.content


def test_wrong_password_is_401_in_the_error_format(api_client):
    UserFactory(email="ada@example.test")

    response = api_client.post(TOKEN_URL, {"email": "ada@example.test", "password": "nope"})

    error = assert_error(response, 401, "authentication_failed")
    assert error["message"] == "Email or password is incorrect."
    assert "Bearer" in response["WWW-Authenticate"]


def test_unknown_email_gets_the_same_answer_as_a_wrong_password(api_client):
    UserFactory(email="ada@example.test")

    wrong_password = api_client.post(TOKEN_URL, {"email": "ada@example.test", "password": "x"})
    unknown_email = api_client.post(TOKEN_URL, {"email": "bob@example.test", "password": "x"})

    assert unknown_email.status_code == wrong_password.status_code == 401
    assert unknown_email.json() == wrong_password.json()


def test_inactive_user_cannot_log_in(api_client):
    UserFactory(email="ada@example.test", is_active=False)

    response = api_client.post(TOKEN_URL, {"email": "ada@example.test", "password": TEST_PASSWORD})

    assert_error(response, 401, "authentication_failed")


def test_missing_fields_are_a_400_with_field_details(api_client):
    response = api_client.post(TOKEN_URL, {"email": "not-an-email"})

    error = assert_error(response, 400, "invalid")
    assert error["details"]["email"][0]["code"] == "invalid"
    assert error["details"]["password"][0]["code"] == "required"


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer a b", "Bearer mbt_not-a-real-token", "Bearer \u00e9t\u00e9"],
)
def test_bad_bearer_headers_are_401(api_client, header):
    response = api_client.get(ME_URL, HTTP_AUTHORIZATION=header)

    assert_error(response, 401, "authentication_failed")


def test_no_credentials_is_401_not_authenticated(api_client):
    assert_error(api_client.get(ME_URL), 401, "not_authenticated")


def test_expired_token_is_refused(client_for):
    user = UserFactory()
    client = client_for(user)
    AccessToken.objects.filter(user=user).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert_error(client.get(ME_URL), 401, "authentication_failed")


def test_logout_revokes_the_token(client_for):
    client = client_for(UserFactory())

    assert client.delete(TOKEN_URL).status_code == 204

    assert_error(client.get(ME_URL), 401, "authentication_failed")
    assert AccessToken.objects.get().revoked_at is not None


def test_logout_without_a_token_is_401(api_client):
    assert_error(api_client.delete(TOKEN_URL), 401, "not_authenticated")


def test_login_is_rate_limited(api_client, settings):
    allowed_per_minute = int(
        settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["auth"].split("/")[0]
    )
    UserFactory(email="ada@example.test")
    for _ in range(allowed_per_minute):
        guess = api_client.post(TOKEN_URL, {"email": "ada@example.test", "password": "guess"})
        assert guess.status_code == 401

    response = api_client.post(TOKEN_URL, {"email": "ada@example.test", "password": TEST_PASSWORD})

    error = assert_error(response, 429, "throttled")
    assert error["details"]["retry_after_seconds"] > 0
    assert int(response["Retry-After"]) > 0
