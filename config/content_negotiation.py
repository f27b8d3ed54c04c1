"""Content negotiation that never answers 406. Every API view renders JSON only, so an Accept
header it cannot satisfy (or cannot parse: the schema fuzzer sent `Accept: (|$k110`) gets the
JSON answer anyway, as RFC 9110 §12.5.1 allows ("disregard the header field by treating the
response as if it is not subject to content negotiation") — instead of a 406 that no operation
documents."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


class JSONFallbackNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: Any = None
    ) -> tuple[BaseRenderer, str]:
        renderers = list(renderers)
        try:
            selected: tuple[BaseRenderer, str] = super().select_renderer(
                request, renderers, format_suffix
            )
        except exceptions.NotAcceptable:
            return renderers[0], str(renderers[0].media_type)
        return selected
