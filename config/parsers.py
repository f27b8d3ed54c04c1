"""The API's JSON parser: DRF's, with limits on what a body may cost.

- A body over `DATA_UPLOAD_MAX_MEMORY_SIZE` bytes is a 413 (`request_too_large`), decided from
  `Content-Length` before anything is read, and otherwise after reading one byte past the limit
  (never more). DRF's own parser streams any size into `json.load`.
- Nesting deeper than `MAX_JSON_DEPTH` is a 400 (`parse_error`): no request needs it, and a
  deeply nested body (`[[[[…`) would otherwise raise RecursionError, in the parser or in any
  code that walks the data afterwards (the idempotency fingerprint, a JSONB column).
- Numbers Python refuses (more than 4,300 digits) are a 400, as any other malformed JSON.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 64


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


def json_depth_exceeds(value: object, *, limit: int) -> bool:
    """Whether lists/objects in `value` nest deeper than `limit` (iterative: no recursion)."""
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        current, depth = pending.pop()
        if isinstance(current, Mapping):
            children: Any = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def content_length_declared(*, meta: Mapping[str, Any]) -> int | None:
    """The request's Content-Length header as a number (None when absent or not a number)."""
    try:
        return int(meta.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None


def body_read_bounded(stream: IO[bytes], *, content_length: int | None) -> bytes:
    """The body, or RequestTooLarge when it has more than DATA_UPLOAD_MAX_MEMORY_SIZE bytes."""
    limit: int | None = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None:
        return stream.read()
    too_large = RequestTooLarge(
        f"The request body is larger than {limit} bytes.", code="request_too_large"
    )
    if content_length is not None and content_length > limit:
        raise too_large
    body = stream.read(limit + 1)
    if len(body) > limit:
        raise too_large
    return body


class BoundedJSONParser(JSONParser):
    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        request = (parser_context or {}).get("request")
        content_length = None if request is None else content_length_declared(meta=request.META)
        body = body_read_bounded(stream, content_length=content_length)
        try:
            data = super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError:
            data = None
            too_deep = True
        else:
            too_deep = json_depth_exceeds(data, limit=MAX_JSON_DEPTH)
        if too_deep:
            raise exceptions.ParseError(
                f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels."
            )
        return data
