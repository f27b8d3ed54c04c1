"""Reading query strings for the API's query serializers."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.request import Request

REPEATED_MESSAGE = "Give this parameter once."


def query_params_read(request: Request) -> dict[str, str]:
    """The query string as a plain dict, for a query serializer. DRF reads a QueryDict like an
    HTML form, where an empty value of an optional field means "not given" (`?status=` or
    `?as_of=` were silently ignored); from a plain dict an empty value is what the schema says
    it is: invalid, a 400. A parameter given more than once is a 400 too (the filters take one
    value; `?entry=1&entry=2` used to mean entry 2)."""
    repeated = {
        name: [REPEATED_MESSAGE] for name, values in request.query_params.lists() if len(values) > 1
    }
    if repeated:
        raise exceptions.ValidationError(repeated)
    return request.query_params.dict()
