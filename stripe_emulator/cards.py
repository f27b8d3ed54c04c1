"""Stripe's test payment-method tokens and how their cards behave when charged.

Attaching a token (``pm_card_visa``, …) creates a new card PaymentMethod with the brand and last
four digits Stripe's test card has; the card remembers its behaviour. The decline tokens attach
fine and fail only when charged, as in Stripe's test mode:

=========================================  ==========  =====  ==================================
token                                      brand       last4  when charged
=========================================  ==========  =====  ==================================
``pm_card_visa``                           visa        4242   succeeds
``pm_card_mastercard``                     mastercard  4444   succeeds
``pm_card_chargeDeclined``                 visa        0002   ``card_declined`` / generic_decline
``pm_card_chargeDeclinedInsufficientFunds`` visa       9995   ``card_declined`` / insufficient_funds
=========================================  ==========  =====  ==================================
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decline:
    decline_code: str
    message: str
    seller_message: str
    advice_code: str | None


@dataclass(frozen=True)
class CardToken:
    brand: str
    last4: str
    fingerprint: str
    decline: Decline | None = None


TEST_CARDS: dict[str, CardToken] = {
    "pm_card_visa": CardToken("visa", "4242", "Xt5EWLLDS7FJjR1c"),
    "pm_card_mastercard": CardToken("mastercard", "4444", "bMqRzzvfrEUoaZTg"),
    "pm_card_chargeDeclined": CardToken(
        "visa",
        "0002",
        "Hh3XymNNjdExcwsv",
        Decline(
            decline_code="generic_decline",
            message="Your card was declined.",
            seller_message="The bank did not return any further details with this decline.",
            advice_code=None,
        ),
    ),
    "pm_card_chargeDeclinedInsufficientFunds": CardToken(
        "visa",
        "9995",
        "Q6pIB7d0Mx9ERU8o",
        Decline(
            decline_code="insufficient_funds",
            message="Your card has insufficient funds.",
            seller_message="The bank returned the decline code `insufficient_funds`.",
            advice_code="try_again_later",
        ),
    ),
}


def card_of_token(token: str) -> CardToken | None:
    return TEST_CARDS.get(token)


def decline_of(behaviour: str) -> Decline | None:
    """The decline a stored card produces; ``behaviour`` is the token it was created from."""
    card = TEST_CARDS.get(behaviour)
    return None if card is None else card.decline
