"""What billing tells the rest of the system. Receivers call a service; they hold no logic."""

from django.dispatch import Signal

# Sent inside the transaction that records an invoice as paid, once per invoice.
# Arguments: invoice (billing.models.Invoice).
invoice_paid = Signal()

# Sent inside the transaction that records a declined charge of an invoice.
# Arguments: invoice (billing.models.Invoice), payment (the failed billing.models.Payment).
invoice_payment_failed = Signal()

# Sent inside the transaction that records an invoice as finalized in Stripe (open, or paid at
# once), possibly more than once for one invoice (receivers are idempotent).
# Arguments: invoice.
invoice_finalized = Signal()

# Sent inside the transaction that records an invoice as voided, or as uncollectible (written
# off). Arguments: invoice.
invoice_voided = Signal()
invoice_written_off = Signal()

# Sent inside the transaction that creates an invoice's succeeded payment. Arguments: payment.
payment_succeeded = Signal()

# Sent inside the transaction that records a refund as succeeded in Stripe. Arguments: refund.
refund_succeeded = Signal()

# Sent inside the transaction that stores a succeeded payment's Stripe fee, once per payment.
# Arguments: payment (its stripe_fee_cents set).
payment_fee_recorded = Signal()

# Sent inside the transaction that first records a dispute of a payment (once per dispute),
# and inside the one that records it closed (once: won, lost, …). Arguments: dispute
# (billing.models.Dispute; `status` says how it closed).
dispute_opened = Signal()
dispute_closed = Signal()
# Sent inside the transaction that records a credit note as issued in Stripe, once per note.
# Arguments: credit_note (billing.models.CreditNote).
credit_note_issued = Signal()
