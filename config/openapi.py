"""Schema generation: every operation documents the error responses it can give, in the one
error format (components/schemas/Error). Operations of views with IdempotentMutationsMixin
also document the Idempotency-Key header, their 409/422 answers and Idempotent-Replayed."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter

from accounts.permissions import Audience
from idempotency.api import (
    IDEMPOTENCY_KEY_HEADER,
    IDEMPOTENCY_KEY_PATTERN,
    REPLAYED_HEADER,
    IdempotentMutationsMixin,
)

ERROR_DESCRIPTIONS = {
    "400": "Invalid input or malformed body.",
    "401": "No, invalid or expired credentials.",
    "402": "Payment required: the card was declined (details.decline_code).",
    "403": "The caller's role does not allow this.",
    "404": "Not found, or not visible to the caller.",
    "409": "Conflicts with the current state.",
    "413": "The uploaded file is too large.",
    "422": "The Idempotency-Key was already used with different parameters.",
    "429": "Rate limit exceeded; see Retry-After.",
    "503": "The rate-limit store is unreachable; nothing was done, retry after Retry-After.",
}
IDEMPOTENT_409_DESCRIPTION = (
    "Conflicts with the current state, or a request with the same Idempotency-Key is still "
    "in progress (idempotency_key_in_use: retry later)."
)
IDEMPOTENCY_KEY_DESCRIPTION = (
    "Makes a retry safe: the first answer (below 500) to a request with this key is stored for "
    "24 hours and replayed, with Idempotent-Replayed: true, to the same caller repeating the "
    "same request (method, path, query and body). The key is scoped to the caller, method and "
    "path. Reusing it with other parameters is a 422 (idempotency_key_reused); while the first "
    "request still runs, a 409 (idempotency_key_in_use). A 5xx is not stored."
)


def error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


class ErrorDocumentingAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        for code in self._error_codes():
            description = ERROR_DESCRIPTIONS[code]
            if code == "409" and self._is_idempotent_operation():
                description = IDEMPOTENT_409_DESCRIPTION
            responses.setdefault(code, error_response(description))
        return responses

    def get_override_parameters(self) -> list[Any]:
        parameters: list[Any] = list(super().get_override_parameters())
        if self._is_idempotent_operation():
            parameters.append(
                OpenApiParameter(
                    name=IDEMPOTENCY_KEY_HEADER,
                    location=OpenApiParameter.HEADER,
                    required=False,
                    type={
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 255,
                        "pattern": IDEMPOTENCY_KEY_PATTERN,
                    },
                    description=IDEMPOTENCY_KEY_DESCRIPTION,
                )
            )
        return parameters

    def _get_response_headers_for_code(
        self, status_code: Any, direction: Any = "response"
    ) -> dict[str, Any]:
        headers: dict[str, Any] = super()._get_response_headers_for_code(status_code, direction)
        if self._is_idempotent_operation() and str(status_code).startswith("2"):
            headers[REPLAYED_HEADER] = {
                "schema": {"type": "string", "enum": ["true"]},
                "description": "Present when this is the stored answer to an earlier request "
                "with the same Idempotency-Key, replayed.",
            }
        return headers

    def _is_idempotent_operation(self) -> bool:
        return (
            isinstance(self.view, IdempotentMutationsMixin)
            and self.method in self.view.idempotent_methods
        )

    def get_tags(self) -> list[str]:
        """Group operations by the first path segment after the version: auth, me, employers…"""
        segments = [part for part in self.path.split("/") if part]
        if len(segments) >= 3 and segments[:2] == ["api", "v1"]:
            return [segments[2]]
        return super().get_tags()

    def _error_codes(self) -> list[str]:
        """Error statuses every operation of this kind can answer, plus those a view declares
        in `error_responses = {"POST": ("401",)}` for what its services may raise."""
        codes = list(getattr(self.view, "error_responses", {}).get(self.method, ()))
        if self.method in {"POST", "PUT", "PATCH"}:
            codes.extend(("400", "413"))  # 413: a body over DATA_UPLOAD_MAX_MEMORY_SIZE
        paginated = getattr(self.view, "pagination_class", None) is not None
        if self.method == "GET" and self._is_list_view() and paginated:
            codes.append("400")  # an unreadable ?limit= or ?offset=
        if self._is_idempotent_operation():
            codes.extend(("400", "409", "422"))
        if (
            getattr(self.view, "allowed_roles", None) is not Audience.PUBLIC
            or self.method == "DELETE"
        ):
            codes.append("401")
            if isinstance(getattr(self.view, "allowed_roles", None), frozenset):
                codes.append("403")
        if "{" in self.path:
            codes.append("404")
        if getattr(self.view, "throttle_scope", None):
            codes.extend(("429", "503"))
        return sorted(set(codes))
