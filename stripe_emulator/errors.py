"""Stripe's error responses.

Every failure the emulator reports has Stripe's shape: an HTTP status and a body
``{"error": {"type": ..., "code": ..., "param": ..., "message": ..., ...}}``. Keys that Stripe
leaves out when they do not apply (``code``, ``param``, ``decline_code``, …) are left out here
too. The SDK turns the status and ``type`` into its exception classes (400/404 →
``InvalidRequestError`` or ``IdempotencyError``, 401 → ``AuthenticationError``, 402 →
``CardError``, 429 → ``RateLimitError``, 5xx → ``APIError``).
"""

from __future__ import annotations

from typing import Any

DOC_URL = "https://stripe.com/docs/error-codes/{}"


class StripeError(Exception):
    """An error answered to the client in Stripe's error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = error_type
        self.code = code
        self.param = param
        self.extra = extra

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = DOC_URL.format(self.code.replace("_", "-"))
        error["message"] = self.message
        if self.param is not None:
            error["param"] = self.param
        error["type"] = self.type
        error.update(self.extra)
        return {"error": error}


def amount_text(amount: int, currency: str) -> str:
    """An amount in minor units as people read it in messages: ``12.34 USD``."""
    return f"{amount / 100:,.2f} {currency.upper()}"


def invalid_request(
    message: str, *, param: str | None = None, code: str | None = None, status: int = 400
) -> StripeError:
    return StripeError(status, message, code=code, param=param)


def parameter_missing(param: str) -> StripeError:
    return StripeError(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def resource_missing(kind: str, object_id: str, *, param: str = "id") -> StripeError:
    return StripeError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def api_error(message: str) -> StripeError:
    return StripeError(500, message, error_type="api_error")
