"""The finance pages' form input: query-string filters checked by the API's own filter
serializers (same rules, same messages), and the refund form, whose amount is typed in dollars
and converted to integer cents exactly (text arithmetic, never a float)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django import forms
from rest_framework import serializers

from billing.invoice_apis import RefundInputSerializer

DOLLARS_PATTERN = re.compile(r"^\$?(?P<whole>[0-9]{1,10})(?:\.(?P<cents>[0-9]{1,2}))?$")


def dollars_to_cents(text: str) -> int:
    """`"12.5"` → 1250, `"$1,234.05"` → 123405, `"7"` → 700. At most two decimals; raises
    ValueError for anything else (a negative amount, three decimals, letters)."""
    match = DOLLARS_PATTERN.fullmatch(text.strip().replace(",", ""))
    if match is None:
        raise ValueError(text)
    cents = (match.group("cents") or "0").ljust(2, "0")
    return int(match.group("whole")) * 100 + int(cents)


def filter_values(
    serializer_class: type[serializers.Serializer[Any]], query: Mapping[str, str]
) -> tuple[dict[str, Any], list[str]]:
    """The query string checked by an API filter serializer: (valid values, error messages).
    Empty fields (a filter form submitted with nothing chosen) are left out."""
    given = {key: value for key, value in query.items() if value.strip() and key != "page"}
    checked = serializer_class(data=given)
    if checked.is_valid():
        return dict(checked.validated_data), []
    errors = [
        f"{field.replace('_', ' ').capitalize()}: {message}"
        for field, messages in checked.errors.items()
        for message in (messages if isinstance(messages, list) else [messages])
    ]
    return {}, errors


class RefundForm(forms.Form):
    """One refund of one payment. `amount` is in dollars (`12.50`); the API's refund serializer
    then checks the cents and the reason with its own rules."""

    payment_id = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    amount = forms.CharField(max_length=20, label="Amount in dollars (e.g. 12.50)")
    reason = forms.CharField(max_length=200, label="Reason")

    def clean_amount(self) -> int:
        try:
            return dollars_to_cents(self.cleaned_data["amount"])
        except ValueError:
            raise forms.ValidationError(
                "Give the amount in dollars with at most two decimals, e.g. 12.50.",
                code="invalid",
            ) from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "amount" in cleaned and "reason" in cleaned:
            checked = RefundInputSerializer(
                data={"amount_cents": cleaned["amount"], "reason": cleaned["reason"]}
            )
            if not checked.is_valid():
                for field, messages in checked.errors.items():
                    for message in messages:
                        label = "amount" if field == "amount_cents" else field
                        self.add_error(label if label in self.fields else None, str(message))
        return cleaned

    def error_messages(self) -> list[str]:
        return [
            f"{self.fields[field].label if field in self.fields else ''}: {message}".lstrip(": ")
            for field, messages in self.errors.items()
            for message in messages
        ]
