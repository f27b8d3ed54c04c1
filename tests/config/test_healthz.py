from __future__ import annotations

import socket

import pytest
from django.test import Client

from tests.api_assertions import assert_error

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    """A local TCP port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_healthz_reports_database_and_broker_up():
    response = Client().get("/healthz")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True


def test_healthz_is_503_when_the_broker_is_down(settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"
    settings.HEALTH_CHECK_TIMEOUT_SECONDS = 1

    response = Client().get("/healthz")

    error = assert_error(response, 503, "unavailable")
    assert "broker" in error["message"]
    assert error["details"]["checks"]["broker"]["ok"] is False
    assert error["details"]["checks"]["database"]["ok"] is True


def test_healthz_answers_other_methods_with_a_json_405():
    response = Client().post("/healthz")

    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, HEAD"
