"""Configuration: command-line flags, ``STRIPE_EMULATOR_*`` environment variables, runtime changes.

Every flag ``--some-flag`` can also be given as the environment variable
``STRIPE_EMULATOR_SOME_FLAG``; a flag on the command line wins over the environment, which wins
over the default. :class:`Settings` (faults and webhooks) can also be changed while the emulator
runs, through ``POST /_emulator/config`` with a JSON object of the fields to change.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENV_PREFIX = "STRIPE_EMULATOR_"


class SettingsError(ValueError):
    """A setting with a wrong type or out of range."""


@dataclass(frozen=True)
class Settings:
    """Faults and webhook behaviour; all of it can change at runtime."""

    latency_ms: int = 0
    error_rate: float = 0.0
    rate_limit_error_rate: float = 0.0
    rate_limit_per_second: int = 25
    seed: int | None = None
    webhook_url: str | None = None
    webhook_secret: str = ""
    webhook_duplicates: int = 1
    webhook_shuffle: bool = False
    webhook_batch_ms: int = 200
    webhook_max_attempts: int = 8
    webhook_backoff_ms: int = 500
    webhook_timeout_ms: int = 5000

    def updated(self, changes: Mapping[str, Any]) -> Settings:
        """A copy with ``changes`` applied, each checked; raises :class:`SettingsError`."""
        known = {field.name for field in dataclasses.fields(self)}
        checked: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise SettingsError(f"Unknown setting: {name}. Known settings: {sorted(known)}")
            checked[name] = _check(name, value)
        return dataclasses.replace(self, **checked)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class LiveSettings:
    """The current :class:`Settings`, replaced as a whole on each change (readers never lock)."""

    def __init__(self, initial: Settings) -> None:
        self._current = initial
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Settings, Settings], None]] = []

    @property
    def current(self) -> Settings:
        return self._current

    def __call__(self) -> Settings:
        return self._current

    def subscribe(self, listener: Callable[[Settings, Settings], None]) -> None:
        """Call ``listener(old, new)`` after every change."""
        self._listeners.append(listener)

    def update(self, changes: Mapping[str, Any]) -> Settings:
        with self._lock:
            old = self._current
            self._current = old.updated(changes)
        for listener in self._listeners:
            listener(old, self._current)
        return self._current


SETTING_HELP: dict[str, str] = {
    "latency_ms": "delay added to every /v1 request, in milliseconds",
    "error_rate": "share (0..1) of /v1 requests answered 500 api_error before executing",
    "rate_limit_error_rate": "share (0..1) of /v1 requests answered 429 at random",
    "rate_limit_per_second": "requests allowed in any 1 s window over all clients (0: no limit)",
    "seed": "seed for the random choices (faults, webhook shuffling)",
    "webhook_url": "URL that receives every event as a signed webhook",
    "webhook_secret": "signing secret (whsec_...); generated and kept in the data dir if unset",
    "webhook_duplicates": "deliver every event this many times",
    "webhook_shuffle": "collect events for --webhook-batch-ms, then deliver them in random order",
    "webhook_batch_ms": "collection window of --webhook-shuffle, in milliseconds",
    "webhook_max_attempts": "delivery attempts per event before giving up",
    "webhook_backoff_ms": "delay before the first retry; doubles on each further retry",
    "webhook_timeout_ms": "timeout of one delivery attempt, in milliseconds",
}

_RATES = {"error_rate", "rate_limit_error_rate"}
_AT_LEAST_ONE = {"webhook_duplicates", "webhook_max_attempts"}
_NON_NEGATIVE = {
    "latency_ms",
    "rate_limit_per_second",
    "webhook_batch_ms",
    "webhook_backoff_ms",
    "webhook_timeout_ms",
}


def _check(name: str, value: Any) -> Any:
    if name in _RATES:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise SettingsError(f"{name} must be a number from 0 to 1, got {value!r}")
        return float(value)
    if name in _NON_NEGATIVE | _AT_LEAST_ONE:
        minimum = 1 if name in _AT_LEAST_ONE else 0
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise SettingsError(f"{name} must be an integer >= {minimum}, got {value!r}")
        return value
    if name == "seed":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise SettingsError(f"seed must be an integer or null, got {value!r}")
        return value
    if name == "webhook_shuffle":
        if not isinstance(value, bool):
            raise SettingsError(f"webhook_shuffle must be true or false, got {value!r}")
        return value
    if name == "webhook_url":
        if value in (None, ""):
            return None
        if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https"):
            raise SettingsError(f"webhook_url must be an http(s) URL or null, got {value!r}")
        return value
    if name == "webhook_secret":
        if not isinstance(value, str) or not value:
            raise SettingsError("webhook_secret must be a non-empty string")
        return value
    raise SettingsError(f"Unknown setting: {name}")  # pragma: no cover - guarded by caller


@dataclass(frozen=True)
class ServerOptions:
    """Start-up options: where to listen and where to keep the state."""

    host: str = "127.0.0.1"
    port: int = 12111
    data_dir: Path = Path("var/stripe-emulator")
    webhook_workers: int = 4
    log_level: str = "INFO"


_SERVER_HELP = {
    "host": "address to listen on",
    "port": "port to listen on",
    "data_dir": "directory of the SQLite database (state survives restarts)",
    "webhook_workers": "threads delivering webhooks",
    "log_level": "logging level (DEBUG logs every request)",
}


def _parse_text(name: str, annotation: str, text: str) -> Any:
    """A flag or environment value, as the type of the field it sets (``annotation``)."""
    if annotation == "bool":
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name} must be true or false, got {text!r}")
    if annotation == "int | None" and text.strip().lower() in ("", "none", "null"):
        return None
    if annotation in ("int", "int | None"):
        try:
            return int(text)
        except ValueError:
            raise SettingsError(f"{name} must be an integer, got {text!r}") from None
    if annotation == "float":
        try:
            return float(text)
        except ValueError:
            raise SettingsError(f"{name} must be a number, got {text!r}") from None
    if annotation == "Path":
        return Path(text)
    if annotation == "str | None":
        return text or None
    return text


def parse_command_line(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> tuple[ServerOptions, Settings]:
    """Options from ``argv`` over ``STRIPE_EMULATOR_*`` variables over the defaults."""
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="python -m stripe_emulator",
        description="A local Stripe API emulator. Every flag can also be set as the environment "
        f"variable {ENV_PREFIX}<FLAG> (e.g. {ENV_PREFIX}WEBHOOK_URL).",
    )
    groups = (
        (ServerOptions, _SERVER_HELP, parser.add_argument_group("server")),
        (Settings, SETTING_HELP, parser.add_argument_group("faults and webhooks")),
    )
    for options_class, helps, group in groups:
        for field in dataclasses.fields(options_class):
            flag = "--" + field.name.replace("_", "-")
            env_name = ENV_PREFIX + field.name.upper()
            help_text = f"{helps[field.name]} (env {env_name})"
            if field.type == "bool":
                group.add_argument(
                    flag, dest=field.name, action=argparse.BooleanOptionalAction, help=help_text
                )
            else:
                group.add_argument(
                    flag, dest=field.name, metavar=field.name.upper(), help=help_text
                )
    namespace = vars(parser.parse_args(argv))

    def resolve(options_class: Any) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field in dataclasses.fields(options_class):
            given = namespace.get(field.name)
            if isinstance(given, bool):
                values[field.name] = given
            elif given is not None:
                values[field.name] = _parse_text(field.name, str(field.type), given)
            elif (ENV_PREFIX + field.name.upper()) in environ:
                text = environ[ENV_PREFIX + field.name.upper()]
                values[field.name] = _parse_text(field.name, str(field.type), text)
        return values

    try:
        server = ServerOptions(**resolve(ServerOptions))
        settings = Settings().updated(resolve(Settings))
    except SettingsError as error:
        parser.error(str(error))
    return server, settings
