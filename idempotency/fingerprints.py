"""The fingerprint of a request: what "the same request again" means for an idempotency key."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.files import File
from django.utils.crypto import salted_hmac
from django.utils.datastructures import MultiValueDict

_HMAC_SALT = "idempotency.fingerprints.request_fingerprint"


def request_fingerprint(
    *, method: str, path: str, query: Iterable[tuple[str, str]], data: object
) -> str:
    """A 64-hex-digit digest of method, path, query parameters and the canonical body.

    - The body is canonical: the parsed data re-serialised as JSON with sorted keys, so key
      order and whitespace do not matter but every value does (`1` and `1.0` differ). Form data
      keeps every value of a repeated field; an uploaded file counts by name, size and the
      SHA-256 of its content. Query parameters count sorted.
    - The digest is HMAC-SHA-256 keyed by a key derived from SECRET_KEY, not a bare SHA-256:
      bodies may hold passwords, and a bare hash of a body whose other fields are known would
      let anyone holding the table test password guesses offline. Nothing else of the body is
      kept. (Rotating SECRET_KEY therefore turns retries of requests still within their TTL into
      `idempotency_key_reused`.)
    """
    canonical = json.dumps(
        {
            "method": method.upper(),
            "path": path,
            "query": sorted(query),
            "body": _canonical(data),
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return salted_hmac(_HMAC_SALT, canonical, algorithm="sha256").hexdigest()


def _canonical(value: object) -> object:
    if isinstance(value, MultiValueDict):
        return {str(key): [_canonical(item) for item in items] for key, items in value.lists()}
    if isinstance(value, Mapping):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, File):
        return {"file": value.name, "size": value.size, "sha256": _file_sha256(value)}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot fingerprint a request body holding {type(value).__name__}")


def _file_sha256(upload: File[Any]) -> str:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()
