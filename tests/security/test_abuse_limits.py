"""Abuse limits: rate limits on logins, sign-ups and the token-bearing endpoints; bodies too large
refused with a 413 before they are read; JSON nested too deeply or with giant numbers refused
with a 400, never a 500, on the API and on Stripe's webhook endpoint."""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.http import HttpResponseBase
from django.test import Client
from django.test.client import ClientHandler
from rest_framework.test import APIClient

from accounts.models import Role, User
from config import clock
from employers.models import ContributionKind, Employer, EmployerContract
from tests.api_assertions import assert_error
from tests.billing.stripe_payloads import signed
from tests.factories import TEST_PASSWORD, EmployerFactory, user_with_role

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"
SIGNUP_URL = "/api/v1/signup/"
ENROLL_URL = "/api/v1/enroll/"
SET_PASSWORD_URL = "/api/v1/employers/admin-invitations/set-password/"
WEBHOOK_URL = "/webhooks/stripe/"
MB = 1024 * 1024


def rate_limit(settings: Any, scope: str) -> int:
    return int(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][scope].split("/")[0])


# --- rate limits ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "scope", "body"),
    [
        (TOKEN_URL, "auth", {"email": "ada@example.test", "password": "a-wrong-guess"}),
        (SET_PASSWORD_URL, "auth", {"uid": "MQ", "token": "guess", "password": "x" * 12}),
        (SIGNUP_URL, "signup", {}),
        (ENROLL_URL, "signup", {"employer_code": "GUES-SING"}),
    ],
)
def test_login_sign_up_and_token_endpoints_are_rate_limited_per_client(
    api_client: APIClient, settings: Any, url: str, scope: str, body: dict[str, Any]
) -> None:
    allowed = rate_limit(settings, scope)
    for _ in range(allowed):
        assert api_client.post(url, body).status_code in {400, 401, 404}

    refused = api_client.post(url, body)

    error = assert_error(refused, 429, "throttled")
    assert error["details"]["retry_after_seconds"] > 0
    assert int(refused["Retry-After"]) > 0
    # a forged X-Forwarded-For does not make a new client (NUM_PROXIES is 0)
    forged = api_client.post(url, body, HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert_error(forged, 429, "throttled")
    # another client is not affected
    other = APIClient(REMOTE_ADDR="198.51.100.7").post(url, body)
    assert other.status_code != 429


def test_the_web_login_page_is_rate_limited_too(settings: Any) -> None:
    user = user_with_role(Role.FINANCE_STAFF, email="clerk@example.test")
    browser = Client()
    assert browser.get("/login/").status_code == 200
    for _ in range(rate_limit(settings, "auth")):
        guess = browser.post("/login/", {"username": user.email, "password": "a-wrong-guess"})
        assert guess.status_code == 200  # the form again, with its error

    refused = browser.post("/login/", {"username": user.email, "password": TEST_PASSWORD})

    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert b"Too many login attempts" in refused.content
    assert "_auth_user_id" not in browser.session  # the right password did not get in
    assert browser.get("/login/").status_code == 200  # looking at the page is not limited


# --- bodies too large, read as a stream ---------------------------------------------------------


class EndlessBody(io.RawIOBase):
    """A request body of `size` bytes made as it is read; counts what was read."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self.size - self.bytes_read)
        buffer[:count] = b"a" * count
        self.bytes_read += count
        return count


def wsgi_post(
    path: str, body: EndlessBody, content_type: str, headers: dict[str, str] | None = None
) -> tuple[HttpResponseBase, int]:
    """POST through Django's whole request stack (the test client's WSGI handler) with a body
    that is streamed, not built in memory. Returns the response and the peak of memory
    allocated while answering (after a first, empty request to the same path, so that what
    the first request of a process imports is not counted)."""
    ClientHandler(enforce_csrf_checks=False)(_environ(path, EndlessBody(0), content_type, headers))
    environ = _environ(path, body, content_type, headers)
    tracemalloc.start()
    try:
        response = ClientHandler(enforce_csrf_checks=False)(environ)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return response, peak


def _environ(
    path: str, body: EndlessBody, content_type: str, headers: dict[str, str] | None
) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(body.size),
        **(headers or {}),
    }


@pytest.fixture
def acme() -> Employer:
    return EmployerFactory.create(name="Acme")


@pytest.fixture
def acme_admin(acme: Employer) -> User:
    return user_with_role(Role.EMPLOYER_ADMIN, employer=acme)


def bearer(user: User) -> dict[str, str]:
    from accounts.services import access_token_issue

    token = access_token_issue(email=user.email, password=TEST_PASSWORD).token
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_a_roster_upload_over_the_limit_is_413_before_it_is_read(
    acme: Employer, acme_admin: User
) -> None:
    body = EndlessBody(200 * MB)

    response, peak = wsgi_post(
        f"/api/v1/employers/{acme.pk}/roster/imports/",
        body,
        "multipart/form-data; boundary=BOUNDARY",
        bearer(acme_admin),
    )

    assert response.status_code == 413, response.content  # type: ignore[attr-defined]
    assert json.loads(response.content)["error"]["code"] == "file_too_large"  # type: ignore[attr-defined]
    assert body.bytes_read == 0
    assert peak < 2 * MB, peak


def test_a_roster_upload_over_the_limit_on_the_web_page_is_413_before_it_is_read(
    acme: Employer, acme_admin: User
) -> None:
    browser = Client()
    browser.force_login(acme_admin)
    session = browser.cookies[django_settings.SESSION_COOKIE_NAME].value
    body = EndlessBody(200 * MB)

    response, peak = wsgi_post(
        f"/employer/{acme.pk}/roster/import/",
        body,
        "multipart/form-data; boundary=BOUNDARY",
        {"HTTP_COOKIE": f"{django_settings.SESSION_COOKIE_NAME}={session}"},
    )

    assert response.status_code == 413
    assert body.bytes_read == 0
    assert peak < 2 * MB, peak


@pytest.mark.parametrize("url", [TOKEN_URL, SIGNUP_URL, ENROLL_URL])
def test_a_json_body_over_the_limit_is_413_before_it_is_read(url: str) -> None:
    body = EndlessBody(500 * MB)

    response, peak = wsgi_post(url, body, "application/json")

    assert response.status_code == 413, response.content  # type: ignore[attr-defined]
    assert json.loads(response.content)["error"]["code"] == "request_too_large"  # type: ignore[attr-defined]
    assert body.bytes_read == 0
    assert peak < 2 * MB, peak


def test_a_json_body_just_over_the_limit_is_413_in_the_error_format(
    api_client: APIClient, settings: Any
) -> None:
    padding = "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = api_client.post(TOKEN_URL, {"email": padding, "password": "p"})
    assert_error(response, 413, "request_too_large")


def test_a_webhook_body_over_the_limit_is_413(api_client: APIClient, settings: Any) -> None:
    body = b'{"id": "evt_1", "padding": "' + b"x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE + b'"}'
    response = api_client.post(
        WEBHOOK_URL,
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signed(body, settings.STRIPE_WEBHOOK_SECRET),
    )
    assert_error(response, 413, "request_too_large")


def test_a_web_form_body_over_the_limit_is_413(settings: Any) -> None:
    response = Client().post(
        "/login/", {"username": "a@b.test", "password": "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE}
    )
    assert response.status_code == 413
    assert b"too large" in response.content


# --- nesting and giant numbers ----------------------------------------------------------------

NESTED_ARRAYS = "[" * 100_000 + "]" * 100_000
NESTED_OBJECTS = '{"a":' * 100_000 + "1" + "}" * 100_000
# deep enough to break code that walks the data recursively, shallow enough for the decoder
MODERATELY_NESTED = '{"email": ' + "[" * 900 + "]" * 900 + "}"
GIANT_INTEGER = '{"email": "a@b.test", "password": ' + "9" * 5_000 + "}"
GIANT_FLOAT = '{"email": 1e999999, "password": -1e999999}'


@pytest.mark.parametrize(
    "raw",
    [NESTED_ARRAYS, NESTED_OBJECTS, MODERATELY_NESTED, GIANT_INTEGER, GIANT_FLOAT],
    ids=["arrays", "objects", "900-levels", "giant-int", "giant-float"],
)
@pytest.mark.parametrize("url", [TOKEN_URL, SIGNUP_URL, ENROLL_URL, SET_PASSWORD_URL])
def test_deep_nesting_and_giant_numbers_are_400_never_500(
    api_client: APIClient, url: str, raw: str
) -> None:
    response = api_client.post(
        url, data=raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY="nesting-1"
    )
    assert response.status_code == 400, response.content
    assert_error(response, 400, response.json()["error"]["code"])


@pytest.mark.parametrize(
    "raw",
    [NESTED_ARRAYS, NESTED_OBJECTS, MODERATELY_NESTED, GIANT_INTEGER, GIANT_FLOAT],
    ids=["arrays", "objects", "900-levels", "giant-int", "giant-float"],
)
def test_a_signed_webhook_nested_too_deeply_or_with_giant_numbers_is_400(
    api_client: APIClient, settings: Any, raw: str
) -> None:
    body = raw.encode()
    response = api_client.post(
        WEBHOOK_URL,
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signed(body, settings.STRIPE_WEBHOOK_SECRET),
    )
    assert_error(response, 400, "webhook_rejected")


def test_a_signed_webhook_with_a_giant_created_timestamp_is_400(
    api_client: APIClient, settings: Any
) -> None:
    body = (
        b'{"id": "evt_giant", "object": "event", "type": "invoice.paid", "created": '
        + b"9" * 4_000
        + b', "data": {"object": {}}}'
    )
    response = api_client.post(
        WEBHOOK_URL,
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signed(body, settings.STRIPE_WEBHOOK_SECRET),
    )
    assert_error(response, 400, "webhook_rejected")


@pytest.mark.parametrize("field", ["pepm_cents", "contribution_cents", "billing_day"])
def test_a_giant_amount_in_a_contract_is_400_not_a_database_error(
    client_for: Callable[[User], APIClient], acme: Employer, field: str
) -> None:
    operator = user_with_role(Role.OPERATOR_ADMIN)
    body: dict[str, Any] = {
        "pepm_cents": 2500,
        "contribution_kind": ContributionKind.FIXED,
        "contribution_cents": 1000,
        "effective_from": "2027-01-01",
        field: 10**30,
    }
    with clock.as_of(dt.date(2026, 12, 1)):
        response = client_for(operator).post(
            f"/api/v1/employers/{acme.pk}/contracts/", body, format="json"
        )
    assert_error(response, 400, "invalid")
    assert not EmployerContract.objects.exists()
