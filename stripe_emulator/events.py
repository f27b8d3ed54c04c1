"""Events: what changed, recorded as Stripe does and queued for webhook delivery.

An event (``evt_…``) carries a snapshot of the object at that moment in ``data.object`` and, for
changes to an existing object, ``data.previous_attributes``: the old values of just the fields
that changed (nested hashes only down to the changed keys, as Stripe shows them). ``request``
names the API request (``req_…``) and its idempotency key. ``api_version`` is the version the
installed SDK pins (``stripe._api_version._ApiVersion.CURRENT``).

When a webhook endpoint is configured, each event is queued for delivery in the same database
transaction (``webhook_duplicates`` copies of it); ``pending_webhooks`` counts those deliveries.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from stripe._api_version import _ApiVersion

from stripe_emulator.config import Settings
from stripe_emulator.context import Call, Outcome, Params, list_window, page_object, reply
from stripe_emulator.errors import invalid_request, resource_missing
from stripe_emulator.store import Store
from stripe_emulator.templates import build, new_id, public

API_VERSION = _ApiVersion.CURRENT


def previous_attributes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Old values of the fields that differ between two versions of an object."""
    changed: dict[str, Any] = {}
    for key in old.keys() | new.keys():
        if key == "_internal":
            continue
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if isinstance(before, dict) and isinstance(after, dict) and before.get("object") != "list":
            changed[key] = previous_attributes(before, after)
        else:
            changed[key] = before
    return changed


class EventRecorder:
    """Writes events (and their webhook deliveries) inside the current transaction."""

    def __init__(self, store: Store, settings: Callable[[], Settings]) -> None:
        self._store = store
        self._settings = settings

    def record(
        self,
        event_type: str,
        obj: dict[str, Any],
        *,
        now: int,
        request_id: str | None,
        idempotency_key: str | None,
        previous: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        settings = self._settings()
        copies = settings.webhook_duplicates if settings.webhook_url else 0
        data: dict[str, Any] = {"object": public(obj)}
        if previous is not None:
            data["previous_attributes"] = previous_attributes(previous, obj)
        event = build(
            "event",
            {
                "id": new_id("evt"),
                "api_version": API_VERSION,
                "created": now,
                "data": data,
                "pending_webhooks": copies,
                "request": {"id": request_id, "idempotency_key": idempotency_key},
                "type": event_type,
            },
        )
        self._store.add_event(event)
        if settings.webhook_url:
            for _ in range(copies):
                self._store.add_delivery(
                    event_id=event["id"],
                    event_type=event_type,
                    url=settings.webhook_url,
                    secret=settings.webhook_secret,
                    now=time.time(),
                )
        return event


# ------------------------------------------------------------------------------------------
# GET /v1/events and /v1/events/{id}

EVENT_LIST_EMULATED = frozenset(
    {"created", "ending_before", "expand", "limit", "starting_after", "type", "types"}
)


def list_events(call: Call, params: Params) -> Outcome:
    """Newest first; ``type`` (or up to 20 ``types``) may end in ``*`` to match a prefix."""
    if "type" in params and "types" in params:
        raise invalid_request(
            "You may only specify one of these parameters: type, types.",
            param="types",
            code="parameters_exclusive",
        )
    types = params.get("types", [params["type"]] if "type" in params else [])
    if len(types) > 20:
        raise invalid_request("You may pass at most 20 event types.", param="types")
    page = call.store.page_events(
        types=types,
        **list_window(params),
    )
    return reply(call, page_object(page, "/v1/events"), params)


def retrieve_event(call: Call, params: Params, event_id: str) -> Outcome:
    event = call.store.get_event(event_id)
    if event is None:
        raise resource_missing("event", event_id)
    return reply(call, event, params)
