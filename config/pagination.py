"""Limit/offset pagination that refuses what it cannot read. DRF's own falls back to the
defaults on `?limit=abc` or `?offset=-1`; here they are a 400 in the error format, and the
schema says what is accepted (limit 1..MAX_LIMIT, offset ≥ 0)."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

from config.query_params import REPEATED_MESSAGE

MAX_LIMIT = 1000


def _query_integer(request: Request, name: str, *, minimum: int, maximum: int | None) -> int | None:
    given = request.query_params.getlist(name)
    if not given:
        return None
    if len(given) > 1:
        raise exceptions.ValidationError({name: [REPEATED_MESSAGE]})
    raw = given[0]
    bound = f" and at most {maximum}" if maximum is not None else ""
    message = f"A whole number of at least {minimum}{bound}."
    if not raw.isascii() or not raw.isdigit():
        raise exceptions.ValidationError({name: [message]})
    value = int(raw)
    if value < minimum or (maximum is not None and value > maximum):
        raise exceptions.ValidationError({name: [message]})
    return value


class StrictLimitOffsetPagination(LimitOffsetPagination):
    max_limit = MAX_LIMIT

    def get_limit(self, request: Request) -> int | None:
        limit = _query_integer(request, self.limit_query_param, minimum=1, maximum=self.max_limit)
        return self.default_limit if limit is None else limit

    def get_offset(self, request: Request) -> int:
        offset = _query_integer(request, self.offset_query_param, minimum=0, maximum=None)
        return offset or 0

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_limit)
            elif parameter["name"] == self.offset_query_param:
                parameter["schema"].update(minimum=0)
        return parameters
