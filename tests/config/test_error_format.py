from __future__ import annotations

import pytest
from django.test import Client

from tests.api_assertions import assert_error

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"


def test_malformed_json_is_400_not_500(api_client):
    response = api_client.post(
        TOKEN_URL, data='{"email": "a@b.c", ', content_type="application/json"
    )

    error = assert_error(response, 400, "parse_error")
    assert "JSON" in error["message"]


def test_a_json_array_instead_of_an_object_is_400(api_client):
    response = api_client.post(TOKEN_URL, data="[1, 2]", content_type="application/json")

    assert_error(response, 400, "invalid")


def test_form_encoded_body_is_415(api_client):
    response = api_client.post(
        TOKEN_URL, data="email=a", content_type="application/x-www-form-urlencoded"
    )

    assert_error(response, 415, "unsupported_media_type")


def test_wrong_method_is_405(api_client):
    assert_error(api_client.put(TOKEN_URL, {}), 405, "method_not_allowed")


def test_unknown_url_is_a_json_404():
    response = Client().get("/api/v1/no/such/page")

    assert response["Content-Type"] == "application/json"
    assert_error(response, 404, "not_found")


def test_unknown_page_outside_the_api_is_an_html_404():
    response = Client().get("/no/such/page")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert b"<h1>Not found</h1>" in response.content


def test_body_over_the_upload_limit_is_413(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = '{"email": "a@b.c", "password": "' + "x" * 4096 + '"}'

    response = api_client.post(TOKEN_URL, data=body, content_type="application/json")

    assert_error(response, 413, "request_too_large")


@pytest.mark.urls("tests.config.urls_raising")
def test_unexpected_error_in_an_api_view_is_a_json_500():
    response = Client(raise_request_exception=False).get("/api/test/explode-api")

    assert_error(response, 500, "server_error")


@pytest.mark.urls("tests.config.urls_raising")
def test_unexpected_error_in_a_django_view_is_a_json_500():
    response = Client(raise_request_exception=False).get("/api/test/explode-django")

    assert_error(response, 500, "server_error")


@pytest.mark.urls("tests.config.urls_raising")
def test_domain_errors_carry_their_status_and_details(api_client):
    response = api_client.post("/api/test/conflict", {})

    error = assert_error(response, 409, "conflict")
    assert error["message"] == "Already there."
    assert error["details"] == {"field": "email"}


def test_csrf_failure_is_json(django_user_model):
    user = django_user_model.objects.create_user("csrf@example.test", "pw-123456789")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.delete(TOKEN_URL)

    assert response.status_code == 403
    assert response.json()["error"]["code"] in {"csrf_failed", "permission_denied"}
