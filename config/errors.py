"""Domain errors. Services raise these (never DRF exceptions); the API error handler turns them
into the one error format with the status code they carry."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A business rule said no. Subclasses set `code` and `http_status`."""

    code = "domain_error"
    http_status = 400

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class NotFoundError(DomainError):
    code = "not_found"
    http_status = 404


class ConflictError(DomainError):
    code = "conflict"
    http_status = 409
