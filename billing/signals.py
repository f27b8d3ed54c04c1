"""What billing tells the rest of the system. Receivers call a service; they hold no logic."""

from django.dispatch import Signal

# Sent inside the transaction that records an invoice as paid, once per invoice.
# Arguments: invoice (billing.models.Invoice).
invoice_paid = Signal()

# Sent inside the transaction that records a declined charge of an invoice.
# Arguments: invoice (billing.models.Invoice), payment (the failed billing.models.Payment).
invoice_payment_failed = Signal()
