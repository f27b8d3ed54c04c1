"""The OpenAPI links the schema publishes (config/openapi_links.py) are well formed: each
names an operation of the schema, fills exactly that operation's path parameters, and takes
ids from fields the source response has (the stateful fuzzer relies on them)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from config.openapi_links import LINKS


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        loaded: dict[str, Any] = Client().get("/api/schema/?format=json").json()
    return loaded


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def test_every_link_is_published_and_names_a_real_operation(schema):
    by_id = {
        operation["operationId"]: operation
        for item in schema["paths"].values()
        for operation in item.values()
    }
    published = 0
    for (path, method, status), links in LINKS.items():
        response = schema["paths"][path][method]["responses"][status]
        assert set(response["links"]) == {link.name for link in links}
        body = resolve(schema, response["content"]["application/json"]["schema"])
        for name, link in response["links"].items():
            target = by_id[link["operationId"]]
            wanted = {p["name"] for p in target.get("parameters", []) if p["in"] == "path"}
            assert set(link["parameters"]) == wanted, (path, name)
            for expression in link["parameters"].values():
                if expression == "$response.body#/id":
                    assert "id" in body["properties"], (path, name)
                elif expression == "$response.body#/results/0/id":
                    item = resolve(schema, body["properties"]["results"]["items"])
                    assert "id" in item["properties"], (path, name)
                else:
                    source_parameter = expression.removeprefix("$request.path.")
                    assert f"{{{source_parameter}}}" in path, (path, name)
            published += 1
    assert published == sum(len(links) for links in LINKS.values()) >= 30
