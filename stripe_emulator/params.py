"""Request parameters: Stripe's form encoding and validation against the SDK's own types.

Decoding mirrors how Stripe (a Rack application) reads ``application/x-www-form-urlencoded``
bodies and query strings: ``metadata[k]=v`` is a hash, ``expand[]=a`` and ``expand[0]=a`` are
arrays, ``lines[0][amount]=5`` is an array of hashes.

Validation takes its rules from the ``stripe`` SDK's generated parameter TypedDicts
(``stripe.params.InvoiceItemCreateParams`` and friends, generated from Stripe's OpenAPI spec), so
no parameter list is written by hand here:

- every key of the TypedDict, except the SDK's client-side ``RequestOptions`` keys
  (``api_key``, ``idempotency_key``, …), is a parameter; anything else is rejected with
  ``parameter_unknown``, at any depth (``period[foo]``);
- keys not marked ``NotRequired`` are required (``parameter_missing``);
- ``int`` → ``parameter_invalid_integer``; ``bool`` accepts only ``true``/``false``;
  ``Decimal``/``float`` must parse; ``Literal[...]`` is an enum of those values. The SDK writes
  enums as ``Literal['a', 'b']|str`` ("open") so that an old client keeps working when Stripe adds
  values, but the API only accepts the values of its version, which for this emulator are the
  SDK's: an open enum is checked like a closed one. ``Literal['']|X`` is "emptyable": ``""`` means
  "unset" and decodes to :data:`EMPTY`; an empty string anywhere else is
  ``parameter_invalid_empty`` and a blank (whitespace only) string
  ``parameter_invalid_string_blank``;
- ``Dict[str, str]`` (metadata) takes any keys with string values, within Stripe's metadata
  limits (50 keys, keys up to 40 characters, values up to 500);
- ``List[X]`` takes an array of ``X``; nested TypedDicts are validated recursively.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, Literal, NotRequired, Required, Union, get_args, get_origin
from urllib.parse import parse_qsl

from stripe._request_options import RequestOptions
from stripe._stripe_context import StripeContext
from stripe._stripe_object import UntypedStripeObject

from stripe_emulator.errors import StripeError, invalid_request, parameter_missing

# Names that RequestOptions (the SDK's client-side options, a base of every params TypedDict)
# imports only for type checking; get_type_hints needs them to resolve its annotations.
_REQUEST_OPTIONS_NAMES: dict[str, Any] = {"StripeContext": StripeContext, "Mapping": Mapping}
REQUEST_OPTION_KEYS = frozenset(RequestOptions.__annotations__)

METADATA_MAX_KEYS = 50
METADATA_KEY_MAX_LENGTH = 40
METADATA_VALUE_MAX_LENGTH = 500


class _Empty:
    """An emptyable parameter sent as ``""``: Stripe's way of saying "unset this"."""

    _instance: _Empty | None = None

    def __new__(cls) -> _Empty:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "EMPTY"


EMPTY = _Empty()

# A decoded form value: a string, a hash or an array of those.
FormValue = str | dict[str, "FormValue"] | list["FormValue"]


# --------------------------------------------------------------------------------------------
# Decoding


_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def decode_form(raw: str) -> dict[str, FormValue]:
    """Decode a form body or query string into nested hashes and arrays (Rack's rules)."""
    result: dict[str, FormValue] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        match = _KEY.match(key)
        if match is None:
            raise invalid_request(f"Invalid parameter name: {key}", param=key)
        path = [match.group(1), *_SEGMENT.findall(match.group(2))]
        _insert(result, path, value, key)
    return result


def _insert(container: dict[str, FormValue], path: list[str], value: str, key: str) -> None:
    head, rest = path[0], path[1:]
    if not rest:
        if isinstance(container.get(head), dict | list):
            raise invalid_request(
                f"Invalid value for {key}: the parameter is also a hash", param=key
            )
        container[head] = value
        return
    if rest[0] == "":
        existing = container.setdefault(head, [])
        if not isinstance(existing, list):
            raise invalid_request(f"Invalid array: {key} mixes array and other values", param=key)
        tail = rest[1:]
        if not tail:
            existing.append(value)
            return
        # Rack starts a new element when the last one already has this key.
        last = existing[-1] if existing else None
        if not isinstance(last, dict) or _has_path(last, tail):
            last = {}
            existing.append(last)
        _insert(last, tail, value, key)
        return
    existing = container.setdefault(head, {})
    if not isinstance(existing, dict):
        raise invalid_request(f"Invalid hash: {key} mixes a hash and other values", param=key)
    _insert(existing, rest, value, key)


def _has_path(container: dict[str, FormValue], path: list[str]) -> bool:
    value: FormValue = container
    for segment in path:
        if not isinstance(value, dict) or segment not in value:
            return False
        value = value[segment]
    return True


# --------------------------------------------------------------------------------------------
# Schema compiled from the SDK's TypedDicts


@dataclass(frozen=True)
class Scalar:
    kind: Literal["str", "int", "bool", "decimal", "float", "any"]


@dataclass(frozen=True)
class Enum:
    values: tuple[str, ...]


@dataclass(frozen=True)
class ListOf:
    item: Kind


@dataclass(frozen=True)
class MapOf:
    """A free-form string map: Stripe's metadata."""


@dataclass(frozen=True)
class Struct:
    fields: Mapping[str, Kind]
    required: frozenset[str]


@dataclass(frozen=True)
class OneOf:
    options: tuple[Kind, ...]
    emptyable: bool


Kind = Scalar | Enum | ListOf | MapOf | Struct | OneOf

_SCALARS: dict[object, Scalar] = {
    str: Scalar("str"),
    int: Scalar("int"),
    bool: Scalar("bool"),
    Decimal: Scalar("decimal"),
    float: Scalar("float"),
    Any: Scalar("any"),
}


@cache
def schema_of(params_class: type) -> Struct:
    """The parameter schema of an SDK params TypedDict, without its RequestOptions keys."""
    hints = typing.get_type_hints(params_class, localns=_REQUEST_OPTIONS_NAMES, include_extras=True)
    fields: dict[str, Kind] = {}
    required: set[str] = set()
    for name, hint in hints.items():
        if name in REQUEST_OPTION_KEYS:
            continue
        origin = get_origin(hint)
        if origin is NotRequired:
            hint = get_args(hint)[0]
        elif origin is Required:
            hint = get_args(hint)[0]
            required.add(name)
        elif name in getattr(params_class, "__required_keys__", frozenset()):
            required.add(name)
        fields[name] = _compile(hint)
    return Struct(fields=fields, required=frozenset(required))


def _compile(hint: Any) -> Kind:
    if hint in _SCALARS:
        return _SCALARS[hint]
    origin = get_origin(hint)
    if origin is Union or origin is types.UnionType:
        return _compile_union(get_args(hint))
    if origin is Literal:
        return _compile_union((hint,))
    if origin is list:
        return ListOf(_compile(get_args(hint)[0]))
    if origin is dict or origin is Mapping or origin is UntypedStripeObject:
        return MapOf()
    if isinstance(hint, type) and issubclass(hint, dict) and hasattr(hint, "__annotations__"):
        return schema_of(hint)
    raise TypeError(f"Unsupported parameter type in the stripe SDK: {hint!r}")


def _compile_union(members: tuple[Any, ...]) -> Kind:
    literal_values: list[str] = []
    options: list[Kind] = []
    for member in members:
        if member is type(None):
            continue
        if get_origin(member) is Literal:
            literal_values.extend(str(value) for value in get_args(member))
        else:
            compiled = _compile(member)
            if compiled not in options:  # Dict[str, str]|UntypedStripeObject[str]: one map
                options.append(compiled)
    emptyable = "" in literal_values
    enum_values = tuple(value for value in literal_values if value != "")
    if enum_values:
        # The SDK types an enum as "Literal['a', 'b']|str" so that an old client accepts values
        # Stripe adds later; the API accepts only the values of its version: the SDK's.
        options = [Enum(enum_values), *(option for option in options if option != Scalar("str"))]
    if len(options) == 1 and not emptyable:
        return options[0]
    return OneOf(options=tuple(options), emptyable=emptyable)


# --------------------------------------------------------------------------------------------
# Validation


def validate(params_class: type, raw: Mapping[str, FormValue]) -> dict[str, Any]:
    """Validate decoded parameters against an SDK params TypedDict; returns typed values.

    Raises :class:`StripeError` (HTTP 400) with Stripe's codes for the first problem found.
    """
    return _validate_struct(schema_of(params_class), raw, prefix="")


def _join(prefix: str, name: str) -> str:
    return f"{prefix}[{name}]" if prefix else name


def _validate_struct(struct: Struct, raw: Mapping[str, FormValue], prefix: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in raw.items():
        path = _join(prefix, name)
        kind = struct.fields.get(name)
        if kind is None:
            raise StripeError(
                400,
                f"Received unknown parameter: {path}",
                code="parameter_unknown",
                param=path,
            )
        result[name] = _validate_value(kind, value, path)
    for name in sorted(struct.required):
        if name not in raw:
            raise parameter_missing(_join(prefix, name))
    return result


def _validate_value(kind: Kind, value: FormValue, path: str) -> Any:
    if isinstance(kind, OneOf):
        return _validate_one_of(kind, value, path)
    if isinstance(kind, Struct):
        if not isinstance(value, dict):
            raise _not_a_hash(value, path)
        return _validate_struct(kind, value, path)
    if isinstance(kind, MapOf):
        return _validate_metadata(value, path)
    if isinstance(kind, ListOf):
        items = _as_list(value, path)
        return [_validate_value(kind.item, item, f"{path}[{i}]") for i, item in enumerate(items)]
    if not isinstance(value, str):
        raise invalid_request(
            f"Invalid {_describe(kind)} for {path}: expected a single value, got a "
            f"{'hash' if isinstance(value, dict) else 'array'}",
            param=path,
        )
    if isinstance(kind, Enum):
        return _validate_enum(kind, value, path)
    return _validate_scalar(kind, value, path)


def _validate_one_of(kind: OneOf, value: FormValue, path: str) -> Any:
    if value == "" and kind.emptyable:
        return EMPTY
    candidates: list[Kind]
    if isinstance(value, dict):
        candidates = [k for k in kind.options if isinstance(k, Struct | MapOf | ListOf)]
    elif isinstance(value, list):
        candidates = [k for k in kind.options if isinstance(k, ListOf)]
    else:
        candidates = [k for k in kind.options if isinstance(k, Scalar | Enum)]
    if not candidates:
        expected = " or ".join(_describe(k) for k in kind.options)
        raise invalid_request(f"Invalid value for {path}: expected {expected}", param=path)
    # Prefer the structured reading of a hash whose keys are all array indexes only when the
    # schema has no hash reading (``lines[0][amount]`` → list; ``created[gte]`` → struct).
    candidates.sort(key=lambda k: isinstance(k, ListOf))
    errors: list[StripeError] = []
    for candidate in candidates:
        try:
            return _validate_value(candidate, value, path)
        except StripeError as error:
            errors.append(error)
    raise errors[0]


def _validate_scalar(kind: Scalar, value: str, path: str) -> Any:
    if value == "":
        raise StripeError(
            400,
            f"You passed an empty string for '{path}'. We assume empty values are an attempt to "
            f"unset a parameter; however '{path}' cannot be unset. You should remove '{path}' "
            "from your request or supply a non-empty value.",
            code="parameter_invalid_empty",
            param=path,
        )
    if kind.kind in ("str", "any"):
        if not value.strip():
            raise StripeError(
                400,
                f"The string provided for '{path}' is blank. Supply a non-blank value.",
                code="parameter_invalid_string_blank",
                param=path,
            )
        return value
    if kind.kind == "int":
        if not re.fullmatch(r"-?\d+", value):
            raise StripeError(
                400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=path
            )
        return int(value)
    if kind.kind == "bool":
        if value not in ("true", "false"):
            raise invalid_request(
                f"Invalid boolean: {value}. {path} must be true or false.", param=path
            )
        return value == "true"
    if kind.kind == "decimal":
        try:
            number = Decimal(value)
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            raise invalid_request(f"Invalid decimal: {value}", param=path)
        return number
    try:
        return float(value)
    except ValueError:
        raise invalid_request(f"Invalid float: {value}", param=path) from None


def _validate_enum(kind: Enum, value: str, path: str) -> str:
    if value not in kind.values:
        *others, last = kind.values
        separator = ", or " if len(others) > 1 else " or "
        choices = f"{', '.join(others)}{separator}{last}" if others else last
        raise invalid_request(f"Invalid {path}: must be one of {choices}", param=path)
    return value


def _validate_metadata(value: FormValue, path: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _not_a_hash(value, path)
    if len(value) > METADATA_MAX_KEYS:
        raise invalid_request(
            f"Invalid {path}: metadata can have at most {METADATA_MAX_KEYS} keys", param=path
        )
    result: dict[str, str] = {}
    for key, item in value.items():
        item_path = f"{path}[{key}]"
        if not isinstance(item, str):
            raise invalid_request(f"Invalid value for {item_path}: expected a string", param=path)
        if len(key) > METADATA_KEY_MAX_LENGTH:
            raise invalid_request(
                f"Metadata keys can be at most {METADATA_KEY_MAX_LENGTH} characters long: {key}",
                param=item_path,
            )
        if len(item) > METADATA_VALUE_MAX_LENGTH:
            raise invalid_request(
                f"Metadata values can be at most {METADATA_VALUE_MAX_LENGTH} characters long.",
                param=item_path,
            )
        result[key] = item
    return result


def _as_list(value: FormValue, path: str) -> list[FormValue]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and all(key.isdigit() for key in value):
        return [value[key] for key in sorted(value, key=int)]
    raise invalid_request(f"Invalid array: {path} must be an array", param=path)


def _not_a_hash(value: FormValue, path: str) -> StripeError:
    if value == "":
        return StripeError(
            400,
            f"You passed an empty string for '{path}', which cannot be unset.",
            code="parameter_invalid_empty",
            param=path,
        )
    return invalid_request(f"Invalid hash: {path} must be a hash", param=path)


def _describe(kind: Kind) -> str:
    if isinstance(kind, Scalar):
        return {"str": "string", "any": "value"}.get(kind.kind, kind.kind)
    if isinstance(kind, Enum):
        return "string"
    if isinstance(kind, ListOf):
        return "array"
    if isinstance(kind, OneOf):
        return " or ".join(_describe(option) for option in kind.options)
    return "hash"


def check_emulated(
    params: Mapping[str, Any], emulated: frozenset[str], prefix: str = "", path: str = ""
) -> None:
    """Reject parameters Stripe accepts but this emulator does not act on.

    ``emulated`` names the parameters an endpoint honours, nested keys joined by dots:
    ``"invoice_settings.default_payment_method"`` admits that one key of the ``invoice_settings``
    hash, ``"lines.amount"`` that key in each element of the ``lines`` array. Answering 400 is more
    useful than silently ignoring a parameter whose effect a caller relies on.
    """
    for name, value in params.items():
        dotted = f"{prefix}.{name}" if prefix else name
        param = _join(path, name)
        if dotted in emulated:
            continue
        if any(entry.startswith(f"{dotted}.") for entry in emulated):
            if isinstance(value, dict):
                check_emulated(value, emulated, dotted, param)
                continue
            if isinstance(value, list) and all(isinstance(item, dict) for item in value):
                for index, item in enumerate(value):
                    check_emulated(item, emulated, dotted, f"{param}[{index}]")
                continue
        raise StripeError(
            400,
            f"The Stripe emulator does not emulate the parameter {param} (Stripe accepts it); "
            "see stripe_emulator/README.md for what is emulated.",
            code="parameter_not_emulated",
            param=param,
        )
