"""Schema generation: every operation documents the error responses it can give, in the one
error format (components/schemas/Error)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema

from accounts.permissions import Audience

ERROR_DESCRIPTIONS = {
    "400": "Invalid input or malformed body.",
    "401": "No, invalid or expired credentials.",
    "403": "The caller's role does not allow this.",
    "404": "Not found, or not visible to the caller.",
    "409": "Conflicts with the current state.",
    "429": "Rate limit exceeded; see Retry-After.",
}


def error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


class ErrorDocumentingAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        for code in self._error_codes():
            responses.setdefault(code, error_response(ERROR_DESCRIPTIONS[code]))
        return responses

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
            codes.append("400")
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
            codes.append("429")
        return sorted(set(codes))
