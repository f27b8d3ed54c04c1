"""What an `Idempotency-Key` request can be refused with (in the one error format)."""

from __future__ import annotations

from config.errors import DomainError


class InvalidIdempotencyKeyError(DomainError):
    """The header is not 1 to 255 printable ASCII characters (no leading or trailing space)."""

    code = "invalid_idempotency_key"
    http_status = 400


class IdempotencyKeyInUseError(DomainError):
    """A request with this key is still being processed; retry it later."""

    code = "idempotency_key_in_use"
    http_status = 409


class IdempotencyKeyReusedError(DomainError):
    """The key was first used with other parameters (as in the IETF Idempotency-Key draft, 422)."""

    code = "idempotency_key_reused"
    http_status = 422
