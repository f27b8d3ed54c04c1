"""Reading query strings for the API's query serializers."""

from __future__ import annotations

from rest_framework.request import Request


def query_params_read(request: Request) -> dict[str, str]:
    """The query string as a plain dict, for a query serializer. DRF reads a QueryDict like an
    HTML form, where an empty value of an optional field means "not given" (`?status=` or
    `?as_of=` were silently ignored); from a plain dict an empty value is what the schema says
    it is: invalid, a 400. A repeated parameter counts once (the last), as with `.get()`."""
    return request.query_params.dict()
