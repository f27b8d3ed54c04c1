"""A local emulator of the parts of Stripe's API this project uses.

Run it with ``python -m stripe_emulator`` (see ``stripe_emulator/README.md``); point the ``stripe``
SDK at it with ``stripe.StripeClient("sk_test_…", base_addresses={"api": "http://127.0.0.1:12111"})``.
It depends on the standard library and the ``stripe`` SDK only, and nothing in the project
imports it.
"""
