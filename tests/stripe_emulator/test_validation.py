"""Strictness like Stripe's: authentication, routes and parameters checked against the SDK's own
generated parameter types."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
import requests
import stripe
import stripe.params

from stripe_emulator.params import EMPTY, decode_form, schema_of, validate
from tests.stripe_emulator.conftest import API_KEY


@pytest.fixture
def customer(client):
    return client.v1.customers.create()


def invalid(call):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call()
    assert raised.value.http_status == 400
    assert raised.value.json_body["error"]["type"] == "invalid_request_error"
    return raised.value


def test_an_unknown_parameter_is_named(client, customer):
    error = invalid(
        lambda: client.v1.invoice_items.create(
            params={"customer": customer.id, "amount": 5, "colour": "red"}
        )
    )
    assert (error.code, error.param) == ("parameter_unknown", "colour")
    assert error.user_message == "Received unknown parameter: colour"


def test_an_unknown_nested_parameter_is_named_with_its_path(client, customer):
    error = invalid(
        lambda: client.v1.invoice_items.create(
            params={
                "customer": customer.id,
                "amount": 5,
                "period": {"start": 1, "end": 2, "foo": 3},
            }
        )
    )
    assert (error.code, error.param) == ("parameter_unknown", "period[foo]")


def test_request_options_are_not_body_parameters(client, customer):
    error = invalid(
        lambda: client.v1.invoice_items.create(
            params={"customer": customer.id, "amount": 5, "idempotency_key": "k"}
        )
    )
    assert (error.code, error.param) == ("parameter_unknown", "idempotency_key")


@pytest.mark.parametrize(
    ("params", "code", "param"),
    [
        ({"amount": "abc"}, "parameter_invalid_integer", "amount"),
        ({"amount": 5, "discountable": "maybe"}, None, "discountable"),
        (
            {"amount": 5, "period": {"start": "soon", "end": 1}},
            "parameter_invalid_integer",
            "period[start]",
        ),
        ({"amount": 5, "period": {"start": 1}}, "parameter_missing", "period[end]"),
        ({"amount": 5, "description": ""}, "parameter_invalid_empty", "description"),
        ({"amount": 5, "description": "   "}, "parameter_invalid_string_blank", "description"),
        ({"amount": 5, "unit_amount_decimal": "1.2.3"}, None, "unit_amount_decimal"),
        ({"amount": 5, "metadata": "not-a-hash"}, None, "metadata"),
        ({"amount": 5, "tax_rates": "txr_1"}, None, "tax_rates"),
        ({"amount": 5, "tax_behavior": "sometimes"}, None, "tax_behavior"),
        ({"amount": 5, "metadata": {"k" * 41: "v"}}, None, f"metadata[{'k' * 41}]"),
    ],
)
def test_ill_typed_parameters_are_refused(client, customer, params, code, param):
    error = invalid(
        lambda: client.v1.invoice_items.create(params={"customer": customer.id, **params})
    )
    assert (error.code, error.param) == (code, param)
    assert error.user_message


def test_an_enum_accepts_only_the_values_of_the_api_version(client, customer):
    error = invalid(
        lambda: client.v1.invoices.create(
            params={"customer": customer.id, "collection_method": "weekly"}
        )
    )
    assert error.param == "collection_method"
    assert error.user_message == (
        "Invalid collection_method: must be one of charge_automatically or send_invoice"
    )


def test_a_missing_required_parameter(client):
    error = invalid(lambda: client.v1.credit_notes.create(params={"amount": 100}))
    assert (error.code, error.param) == ("parameter_missing", "invoice")


def test_a_parameter_stripe_has_but_the_emulator_does_not_emulate(client, customer):
    error = invalid(
        lambda: client.v1.invoices.create(
            params={"customer": customer.id, "account_tax_ids": ["x"]}
        )
    )
    assert (error.code, error.param) == ("parameter_not_emulated", "account_tax_ids")


def test_unknown_ids_are_resource_missing(client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.invoices.retrieve("in_nope")
    assert (raised.value.http_status, raised.value.code) == (404, "resource_missing")
    assert raised.value.user_message == "No such invoice: 'in_nope'"


def test_a_missing_api_key_is_401(emulator):
    response = requests.get(f"{emulator.api_base}/v1/events", timeout=5)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "You did not provide an API key" in response.json()["error"]["message"]


@pytest.mark.parametrize("key", ["sk_live_abcdefghijkl", "pk_test_abcdefghijkl", "sk_test_"])
def test_only_test_secret_keys_are_accepted(emulator, key):
    client = stripe.StripeClient(
        key, base_addresses={"api": emulator.api_base}, max_network_retries=0
    )
    with pytest.raises(stripe.AuthenticationError) as raised:
        client.v1.customers.create()
    assert raised.value.http_status == 401
    assert "Invalid API Key provided" in str(raised.value.user_message)


def test_basic_auth_with_the_key_as_user_is_accepted(emulator):
    response = requests.get(f"{emulator.api_base}/v1/events", auth=(API_KEY, ""), timeout=5)
    assert response.status_code == 200


def test_every_response_has_request_id_and_stripe_version(emulator):
    for response in (
        requests.get(f"{emulator.api_base}/v1/events", auth=(API_KEY, ""), timeout=5),
        requests.get(f"{emulator.api_base}/v1/events", timeout=5),
        requests.get(f"{emulator.api_base}/v1/nothing", auth=(API_KEY, ""), timeout=5),
    ):
        assert response.headers["Request-Id"].startswith("req_")
        assert response.headers["Stripe-Version"] == stripe._api_version._ApiVersion.CURRENT


def test_an_unknown_url_is_404(emulator):
    response = requests.delete(
        f"{emulator.api_base}/v1/invoices/in_1", auth=(API_KEY, ""), timeout=5
    )
    assert response.status_code == 404
    assert response.json()["error"]["message"].startswith("Unrecognized request URL (DELETE:")


def test_form_decoding_follows_stripes_bracket_notation():
    decoded = decode_form(
        "expand[]=a&expand[]=b&lines[0][amount]=5&lines[1][amount]=6&metadata[k]=v&x="
    )
    assert decoded == {
        "expand": ["a", "b"],
        "lines": {"0": {"amount": "5"}, "1": {"amount": "6"}},
        "metadata": {"k": "v"},
        "x": "",
    }


def test_emptyable_parameters_decode_to_empty():
    params = validate(stripe.params.CustomerUpdateParams, decode_form("metadata=&address="))
    assert params == {"metadata": EMPTY, "address": EMPTY}


def test_every_params_type_of_the_sdk_compiles():
    count = 0
    for module_info in pkgutil.iter_modules(stripe.params.__path__):
        module = importlib.import_module(f"stripe.params.{module_info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, dict)
                and value.__module__ == module.__name__
            ):
                schema_of(value)
                count += 1
    assert count > 1000
