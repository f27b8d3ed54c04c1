from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    loaded: dict[str, Any] = yaml.safe_load(out.getvalue())
    return loaded


def operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_schema_generates_valid_without_warnings(schema):
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/auth/token/" in schema["paths"]


def test_every_operation_documents_its_errors_in_the_error_format(schema):
    for path, method, operation in operations(schema):
        errors = {
            code: r for code, r in operation["responses"].items() if code.startswith(("4", "5"))
        }
        assert errors, f"{method.upper()} {path} documents no error response"
        for code, response in errors.items():
            ref = response["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/Error", f"{method.upper()} {path} {code}"


def test_object_routes_document_404_and_protected_routes_401(schema):
    for path, method, operation in operations(schema):
        if "{" in path:
            assert "404" in operation["responses"], f"{method.upper()} {path}"
        if operation.get("security") and {} not in operation["security"]:
            assert "401" in operation["responses"], f"{method.upper()} {path}"


def test_login_documents_401(schema):
    assert "401" in schema["paths"]["/api/v1/auth/token/"]["post"]["responses"]


def test_schema_endpoint_serves_the_schema():
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    assert "/api/v1/employers/{id}/" in response.json()["paths"]


def test_docs_page_uses_no_external_cdn():
    response = Client().get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr.net" not in html
    assert "unpkg.com" not in html
    bundle = re.search(r'src="([^"]*swagger-ui-bundle\.js)"', html)
    assert bundle, html
    asset = Client().get(bundle.group(1))
    assert asset.status_code == 200
