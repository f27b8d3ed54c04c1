"""Input serializers for JSON request bodies that take JSON types at their word. DRF coerces
quietly: `{"name": 991}` became the name "991", `{"amount_cents": "12"}` the integer 12,
`{"flag": "true"}` True. The schema says string, integer, boolean; the fuzzer (tests/fuzz)
sent the other types and they were accepted. Here a value of the wrong JSON type is a 400
(`invalid`, naming the field) before the fields read it. Form bodies (multipart uploads,
whose values are all strings) are left to the fields."""

from __future__ import annotations

from typing import Any

from django.http import QueryDict
from rest_framework import serializers
from rest_framework.fields import empty

# Field classes (most specific first) -> the JSON types their values must have.
_JSON_TYPES: tuple[tuple[type[serializers.Field[Any, Any, Any, Any]], tuple[type, ...]], ...] = (
    (serializers.BooleanField, (bool,)),
    (serializers.IntegerField, (int,)),
    (serializers.FloatField, (int, float)),
    (serializers.CharField, (str,)),  # also EmailField, RegexField, SlugField, URLField
    (serializers.DateField, (str,)),
    (serializers.DateTimeField, (str,)),
    (serializers.UUIDField, (str,)),
    (serializers.ListField, (list,)),
    (serializers.DictField, (dict,)),
)
_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}


def _json_type_error(field: serializers.Field[Any, Any, Any, Any], value: Any) -> str | None:
    if value is None:
        return None  # the field decides whether null is allowed
    if isinstance(field, serializers.ChoiceField):
        if any(type(value) is type(choice) for choice in field.choices):
            return None
        return "Not one of the choices (wrong type)."
    for field_class, json_types in _JSON_TYPES:
        if isinstance(field, field_class):
            ok = isinstance(value, json_types) and not (
                isinstance(value, bool) and bool not in json_types
            )
            if ok:
                return None
            return f"Expected {_TYPE_NAMES.get(json_types[0], json_types[0].__name__)}."
    return None


class JSONInputSerializer(serializers.Serializer[Any]):
    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict) and not isinstance(data, QueryDict):
            errors: dict[str, Any] = {}
            for field in self._writable_fields:
                value = data.get(field.field_name, empty)
                if value is empty:
                    continue
                message = _json_type_error(field, value)
                if message is not None:
                    errors[str(field.field_name)] = [
                        serializers.ErrorDetail(message, code="invalid")
                    ]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
