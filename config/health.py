"""GET /healthz: really asks PostgreSQL and the Celery broker, answers 200 or 503."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from kombu import Connection

from config.api_errors import error_body


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        if cursor.fetchone() != (1,):
            raise RuntimeError("unexpected answer to SELECT 1")


def check_broker() -> None:
    timeout = settings.HEALTH_CHECK_TIMEOUT_SECONDS
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=timeout) as broker:
        broker.ensure_connection(max_retries=1, timeout=timeout)


CHECKS: dict[str, Callable[[], None]] = {"database": check_database, "broker": check_broker}


def run_checks() -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:  # any failure means "down"; the type is reported, not raised
            results[name] = {"ok": False, "error": type(exc).__name__}
        else:
            results[name] = {"ok": True}
        results[name]["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return results


@csrf_exempt  # a probe never posts a form; any method but GET/HEAD gets a clear 405
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    if request.method not in {"GET", "HEAD"}:
        body = error_body(
            code="method_not_allowed", message=f"Method {request.method} not allowed."
        )
        return JsonResponse(body, status=405, headers={"Allow": "GET, HEAD"})
    checks = run_checks()
    down = sorted(name for name, result in checks.items() if not result["ok"])
    if down:
        body = error_body(
            code="unavailable",
            message=f"Unavailable: {', '.join(down)} not reachable.",
            details={"checks": checks},
        )
        return JsonResponse(body, status=503)
    return JsonResponse({"status": "ok", "checks": checks})
