"""`IdempotentMutationsMixin`: the `Idempotency-Key` header for DRF views that opt in."""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar

from django.http import HttpResponse
from django.http.response import HttpResponseBase
from rest_framework.request import Request
from rest_framework.views import APIView

from idempotency.errors import InvalidIdempotencyKeyError
from idempotency.fingerprints import request_fingerprint
from idempotency.services import (
    StoredResponse,
    idempotency_record_claim,
    idempotency_record_complete,
    idempotency_record_release,
)

logger = logging.getLogger(__name__)

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# 1 to 255 printable ASCII characters, not starting or ending with a space.
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]([ -~]{0,253}[!-~])?$"
_KEY_RE = re.compile(IDEMPOTENCY_KEY_PATTERN)
# The only headers stored with a response and replayed; cookies and anything else are dropped
# (DRF adds Allow and Vary again on the way out).
REPLAYED_RESPONSE_HEADERS = (
    "Content-Type",
    "Content-Language",
    "Location",
    "ETag",
    "Last-Modified",
    "WWW-Authenticate",
)


class _Replay(Exception):  # noqa: N818  (control flow out of `initial`, not an error)
    def __init__(self, stored: StoredResponse) -> None:
        super().__init__("replay of a stored response")
        self.stored = stored


class IdempotentMutationsMixin(APIView):
    """Honours `Idempotency-Key` on the view's unsafe methods (see the `idempotency` package
    docstring for the rules). Put it first among the bases:

        class SignupApi(IdempotentMutationsMixin, APIView): ...

    The key is claimed after authentication, permission checks, throttling and body parsing
    (whose refusals are not stored), right before the handler runs. `idempotent_methods`
    narrows which methods take part."""

    idempotent_methods: ClassVar[frozenset[str]] = frozenset({"POST", "PUT", "PATCH", "DELETE"})
    _idempotency_record_id: int | None = None

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponseBase:
        self._idempotency_record_id = None
        try:
            response = super().dispatch(request, *args, **kwargs)
            to_store = self._idempotency_storable(response)
        except BaseException:
            self._idempotency_release()
            raise
        if to_store is None:
            self._idempotency_release()
        else:
            self._idempotency_complete(to_store)
        return response

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        key = self._idempotency_key(request)
        if key is None:
            return
        fingerprint = request_fingerprint(
            method=request.method or "",
            path=request.path,
            query=[
                (name, value) for name, values in request.query_params.lists() for value in values
            ],
            data=request.data,
        )
        user = request.user if request.user.is_authenticated else None
        claim = idempotency_record_claim(
            user=user,
            key=key,
            method=request.method or "",
            path=request.path,
            fingerprint=fingerprint,
        )
        if isinstance(claim, StoredResponse):
            raise _Replay(claim)
        self._idempotency_record_id = claim.record_id

    # DRF takes any HttpResponseBase from here (finalize_response checks for that); its stubs
    # say Response.
    def handle_exception(self, exc: Exception) -> HttpResponseBase:  # type: ignore[override]
        if isinstance(exc, _Replay):
            return _replay_response(exc.stored)
        return super().handle_exception(exc)

    def _idempotency_key(self, request: Request) -> str | None:
        method = request.method or ""
        if method not in self.idempotent_methods or not hasattr(self, method.lower()):
            return None  # not taking part, or a 405 the view would give anyway
        key = request.headers.get(IDEMPOTENCY_KEY_HEADER)
        if key is None:
            return None
        if not _KEY_RE.fullmatch(key):
            raise InvalidIdempotencyKeyError(
                f"The {IDEMPOTENCY_KEY_HEADER} header must be 1 to 255 printable ASCII "
                "characters, not starting or ending with a space."
            )
        return key

    def _idempotency_storable(self, response: HttpResponseBase) -> StoredResponse | None:
        """The response as it will be stored, or None when it is not stored (no claim, a 5xx,
        a stream)."""
        if self._idempotency_record_id is None:
            return None
        if response.status_code >= 500 or response.streaming:
            return None
        if isinstance(response, HttpResponse):
            render = getattr(response, "render", None)
            if callable(render):
                render()  # a DRF Response; Django's handler will not render it twice
            return StoredResponse(
                status=response.status_code,
                headers={
                    name: response[name] for name in REPLAYED_RESPONSE_HEADERS if name in response
                },
                body=response.content,
            )
        return None

    def _idempotency_complete(self, response: StoredResponse) -> None:
        record_id, self._idempotency_record_id = self._idempotency_record_id, None
        if record_id is None:
            return
        try:
            idempotency_record_complete(record_id=record_id, response=response)
        except Exception:
            # The view's work is done and its answer is ready: the client gets it. The key stays
            # in progress (409 to retries) until it expires.
            logger.exception("Could not store the response of idempotency record %s", record_id)

    def _idempotency_release(self) -> None:
        record_id, self._idempotency_record_id = self._idempotency_record_id, None
        if record_id is None:
            return
        try:
            idempotency_record_release(record_id=record_id)
        except Exception:
            logger.exception("Could not release idempotency record %s", record_id)


def _replay_response(stored: StoredResponse) -> HttpResponse:
    response = HttpResponse(stored.body, status=stored.status)
    if "Content-Type" not in stored.headers:
        del response["Content-Type"]  # e.g. a 204: none was sent the first time either
    for name, value in stored.headers.items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response
