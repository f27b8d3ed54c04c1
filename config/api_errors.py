"""The one error format. Every 4xx/5xx the system answers has this body:

    {"error": {"code": "<machine-readable>", "message": "<for humans>", "details": {...}}}

- `code` is stable and machine-readable (`invalid`, `not_authenticated`,
  `authentication_failed`, `permission_denied`, `not_found`, `method_not_allowed`,
  `parse_error`, `unsupported_media_type`, `throttled`, `conflict`, `server_error`, …).
- `message` is one sentence for a human.
- `details` is an object, empty when there is nothing more to say. For `invalid` it maps each
  field (or `non_field_errors`) to a list of `{"message", "code"}` objects.

DRF exceptions and the services' `DomainError`s come through `api_exception_handler`; Django's
own 400/403/404/500 and CSRF failures come through the views below, so nothing escapes as HTML.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from config.errors import DomainError

# Seconds a client is told to wait when Redis (rate-limit counters) cannot be reached.
REDIS_UNAVAILABLE_RETRY_AFTER_SECONDS = 5


def error_body(*, code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _validation_details(exc: exceptions.ValidationError) -> dict[str, Any]:
    full = exc.get_full_details()
    if isinstance(full, dict):
        return {key: value if isinstance(value, list) else [value] for key, value in full.items()}
    return {"non_field_errors": full if isinstance(full, list) else [full]}


logger = logging.getLogger(__name__)

# A lost or refused database connection (a failover, a restart, a killed backend, a network
# cut) or a transaction PostgreSQL aborted (deadlock, serialization failure, timeout): the
# request's transaction was rolled back, and the same request may simply be sent again.
DATABASE_RETRY_AFTER_SECONDS = 1


def _database_unavailable(exc: Exception) -> Response:
    logger.error("Database unavailable during the request: %s", type(exc).__name__, exc_info=exc)
    response = Response(
        error_body(
            code="database_unavailable",
            message=(
                "The database could not complete the request; what it had not committed was "
                "rolled back. Retry the request (with the same Idempotency-Key, if it had one)."
            ),
            details={"retry_after_seconds": DATABASE_RETRY_AFTER_SECONDS},
        ),
        status=503,
    )
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, OperationalError | InterfaceError):
        return _database_unavailable(exc)
    if isinstance(exc, DomainError):
        domain_response = Response(
            error_body(code=exc.code, message=exc.message, details=exc.details),
            status=exc.http_status,
        )
        if exc.http_status == 401:  # a 401 must say how to authenticate (RFC 9110 §15.5.2)
            domain_response["WWW-Authenticate"] = context["view"].get_authenticate_header(
                context["request"]
            )
        return domain_response
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return _redis_unavailable(exc)
    if isinstance(exc, RequestDataTooBig):  # request.body over DATA_UPLOAD_MAX_MEMORY_SIZE
        from config.parsers import RequestTooLarge

        exc = RequestTooLarge()
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None  # not an API exception: Django's handler500 answers, in the same format
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body(
            code="invalid", message="Invalid input.", details=_validation_details(exc)
        )
        return response
    if not isinstance(exc, exceptions.APIException):  # only those get a response above
        return response
    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else exc.default_code
    details: dict[str, Any] = {}
    wait = getattr(exc, "wait", None)  # set by Throttled
    if isinstance(exc, exceptions.Throttled) and wait is not None:
        details["retry_after_seconds"] = int(wait)
    message = exc.detail if isinstance(exc.detail, str) else str(exc.default_detail)
    response.data = error_body(code=str(code), message=str(message), details=details)
    return response


def _redis_unavailable(exc: Exception) -> Response:
    """Redis (the rate-limit counters) is down: the rate-limited endpoints (login, sign-up,
    enrollment, set-password) fail closed with a 503 rather than run unlimited, since their
    limits are what stands between an attacker and password guessing or card testing.
    Throttles are checked before the view runs, so nothing was done; the client retries.
    Endpoints that do not need Redis keep working."""
    logger.warning("Redis unreachable, answering 503: %s", type(exc).__name__)
    wait = REDIS_UNAVAILABLE_RETRY_AFTER_SECONDS
    return Response(
        error_body(
            code="unavailable",
            message="A service this request needs is unavailable; try again shortly.",
            details={"retry_after_seconds": wait},
        ),
        status=503,
        headers={"Retry-After": str(wait)},
    )


# Paths whose errors are JSON in the one error format; anything else is a web page (web/),
# whose errors are HTML pages with the same status.
JSON_PATH_PREFIXES = ("/api/", "/webhooks/", "/healthz")


def _error(request: HttpRequest, status_code: int, code: str, message: str) -> HttpResponse:
    if request.path.startswith(JSON_PATH_PREFIXES):
        return JsonResponse(error_body(code=code, message=message), status=status_code)
    try:
        html = render_to_string("web/error.html", {"status": status_code, "message": message})
    except Exception:  # an error page must not fail: plain text then
        return HttpResponse(message, status=status_code, content_type="text/plain")
    return HttpResponse(html, status=status_code)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):  # a form body over DATA_UPLOAD_MAX_MEMORY_SIZE
        return _error(request, 413, "request_too_large", "The request body is too large.")
    return _error(request, 400, "bad_request", "The request could not be understood.")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 403, "permission_denied", "You do not have permission to do this.")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 404, "not_found", "Not found.")


def server_error(request: HttpRequest) -> HttpResponse:
    return _error(
        request, 500, "server_error", "Something went wrong on our side; it has been logged."
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _error(
        request,
        403,
        "csrf_failed",
        "CSRF verification failed; send the CSRF token (reload the page and try again).",
    )
