"""The URL configuration as a flat list of routes, for the tests that must cover every route
(the authorization matrix, the employer tenancy walk, the web page access matrix): a new route
is found the day it is added."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
PARAMETER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")


@dataclass(frozen=True)
class Route:
    """One URL pattern with the prefixes of its includes (`route` as Django writes it, without
    the leading slash: `api/v1/employers/<int:employer_id>/roster/`)."""

    route: str
    name: str | None  # with its namespaces: `web:finance-statements`
    namespace: str | None  # the innermost namespace (`web`, `admin`), None when there is none
    callback: Callable[..., Any]

    @property
    def view_class(self) -> type | None:
        """The class-based view behind the route (DRF or Django), None for a function view."""
        view: type | None = getattr(self.callback, "view_class", None) or getattr(
            self.callback, "cls", None
        )
        return view

    @property
    def methods(self) -> tuple[str, ...]:
        """The HTTP methods the view answers (upper case, without OPTIONS and HEAD): those it
        has a handler for and allows (`http_method_names`). A function view is taken to answer
        GET only."""
        view = self.view_class
        if view is None:
            return ("GET",)
        allowed = getattr(view, "http_method_names", HTTP_METHODS)
        return tuple(m.upper() for m in HTTP_METHODS if m in allowed and hasattr(view, m))

    @property
    def parameters(self) -> list[str]:
        return [match["name"] for match in PARAMETER.finditer(self.route)]

    @property
    def openapi_path(self) -> str:
        """The route as the OpenAPI schema writes it: `/api/v1/employers/{employer_id}/`."""
        return "/" + PARAMETER.sub(lambda match: "{" + match["name"] + "}", self.route)


def url_routes(
    patterns: list[Any] | None = None,
    prefix: str = "",
    namespace: str | None = None,
    name_prefix: str = "",
) -> Iterator[Route]:
    """Every route of the URL configuration (or of `patterns`), includes flattened."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner_namespace = pattern.namespace or namespace
            yield from url_routes(
                pattern.url_patterns,
                prefix + str(pattern.pattern),
                inner_namespace,
                name_prefix + (f"{pattern.namespace}:" if pattern.namespace else ""),
            )
        elif isinstance(pattern, URLPattern):
            yield Route(
                route=prefix + str(pattern.pattern),
                name=name_prefix + pattern.name if pattern.name else None,
                namespace=namespace,
                callback=pattern.callback,
            )


def route_fill(route: str, value_for: Callable[[str, str], object]) -> str:
    """The path of `route` (with its leading slash), each parameter replaced by
    `value_for(parameter name, the path segment just before it)`: in `employers/<int:pk>/` the
    segment `employers` says what kind of object `pk` names."""
    parts = route.split("/")
    for index, part in enumerate(parts):
        match = PARAMETER.fullmatch(part)
        if match:
            parts[index] = str(value_for(match["name"], parts[index - 1] if index else ""))
    return "/" + "/".join(parts)
