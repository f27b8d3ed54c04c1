from __future__ import annotations

import datetime as dt

from billing.models import BillingCustomer, CollectionMethod, Invoice
from billing.services import InvoiceLineInput, billing_customer_create, invoice_create
from tests.factories import EmployerFactory, UserFactory

JANUARY = (dt.date(2027, 1, 1), dt.date(2027, 1, 31))


def member_customer(*, payment_method_id: str = "pm_card_visa") -> BillingCustomer:
    user = UserFactory.create()
    return billing_customer_create(
        email=user.email, name=user.full_name, user=user, payment_method_id=payment_method_id
    )


def employer_customer() -> BillingCustomer:
    employer = EmployerFactory.create()
    return billing_customer_create(
        email=employer.billing_email, name=employer.name, employer=employer
    )


def member_invoice(customer: BillingCustomer, *amounts: int) -> Invoice:
    start, end = JANUARY
    return invoice_create(
        customer=customer,
        lines=[
            InvoiceLineInput(f"Membership part {n}", amount, start, end)
            for n, amount in enumerate(amounts or (900,), start=1)
        ],
        collection_method=CollectionMethod.CHARGE_AUTOMATICALLY,
    )
