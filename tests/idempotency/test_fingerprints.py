"""What counts as "the same request" for an idempotency key."""

from __future__ import annotations

import hashlib
import json

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.datastructures import MultiValueDict

from idempotency.fingerprints import request_fingerprint


def fingerprint(data: object, *, method: str = "POST", path: str = "/p", query=()) -> str:
    return request_fingerprint(method=method, path=path, query=list(query), data=data)


def test_key_order_does_not_matter_but_every_value_does():
    base = fingerprint({"a": 1, "b": {"x": [1, 2], "y": None}})

    assert fingerprint({"b": {"y": None, "x": [1, 2]}, "a": 1}) == base
    assert fingerprint({"a": 1, "b": {"x": [2, 1], "y": None}}) != base
    assert fingerprint({"a": 1.0, "b": {"x": [1, 2], "y": None}}) != base
    assert fingerprint({"a": "1", "b": {"x": [1, 2], "y": None}}) != base
    assert fingerprint({"a": 1, "b": {"x": [1, 2]}}) != base


def test_method_path_and_query_count():
    base = fingerprint({}, query=[("b", "2"), ("a", "1")])

    assert fingerprint({}, query=[("a", "1"), ("b", "2")]) == base
    assert fingerprint({}, query=[("a", "1")]) != base
    assert fingerprint({}, query=[("b", "2"), ("a", "1")], method="PUT") != base
    assert fingerprint({}, query=[("b", "2"), ("a", "1")], path="/q") != base


def test_it_is_keyed_by_the_secret_key_not_a_bare_hash(settings):
    body = {"email": "a@example.test", "password": "hunter2-but-longer"}
    before = fingerprint(body)

    settings.SECRET_KEY = "another-secret-key-for-this-test"

    assert fingerprint(body) != before
    assert len(before) == 64
    for raw in (json.dumps(body), json.dumps(body, sort_keys=True, separators=(",", ":"))):
        assert before != hashlib.sha256(raw.encode()).hexdigest()


def test_form_data_keeps_repeated_fields_and_file_contents():
    def form(*names: str, content: bytes) -> MultiValueDict[str, object]:
        data: MultiValueDict[str, object] = MultiValueDict({"tag": list(names)})
        data["file"] = SimpleUploadedFile("roster.csv", content)
        return data

    base = fingerprint(form("a", "b", content=b"one"))

    assert fingerprint(form("a", "b", content=b"one")) == base
    assert fingerprint(form("b", content=b"one")) != base
    assert fingerprint(form("a", "b", content=b"two")) != base
