"""Billing's local truth: payers, invoices and their lines, payments, the Stripe outbox and
every Stripe event received. Stripe is the payment rail; these rows say what *should* be there.
Amounts are integer cents."""

from __future__ import annotations

import uuid
from typing import ClassVar, Self

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.scoping import ScopedQuerySet
from accounts.selectors import Access
from config import clock


class BillingCustomer(models.Model):
    """Whoever pays an invoice: a member (user) or an employer. Mirrors one Stripe customer.
    Payment methods are Stripe ids only; card data never reaches this system."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="billing_customer",
    )
    employer = models.OneToOneField(
        "employers.Employer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="billing_customer",
    )
    email = models.EmailField()
    name = models.CharField(max_length=200, blank=True)
    stripe_customer_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    # A payment method id the client gave us (e.g. pm_card_visa) that is not attached yet.
    payment_method_to_attach = models.CharField(max_length=255, blank=True)
    # The attached payment method Stripe charges by default.
    default_payment_method_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(
                name="billing_customer_one_owner",
                condition=Q(user__isnull=False, employer__isnull=True)
                | Q(user__isnull=True, employer__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.name or self.email} ({self.stripe_customer_id or 'not in Stripe yet'})"


class InvoiceStatus(models.TextChoices):
    """Stripe's invoice statuses; the local invoice mirrors them (billing/invoice_status.py)."""

    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


class CollectionMethod(models.TextChoices):
    CHARGE_AUTOMATICALLY = "charge_automatically"  # members: the card on file is charged
    SEND_INVOICE = "send_invoice"  # employers: invoice emailed, paid on net terms


class InvoiceQuerySet(ScopedQuerySet["Invoice"]):
    def visible_to(self, access: Access) -> Self:
        """Finance staff and operator admins see every invoice; an employer admin their
        employer's; a member their own; anyone else none."""
        if access.is_staff_wide:
            return self
        if access.user_id is None:
            return self.none()
        return self.filter(
            Q(customer__employer_id__in=access.employer_ids) | Q(customer__user_id=access.user_id)
        )


class Invoice(models.Model):
    customer = models.ForeignKey(BillingCustomer, on_delete=models.PROTECT, related_name="invoices")
    currency = models.CharField(max_length=3, default="usd")
    collection_method = models.CharField(max_length=32, choices=CollectionMethod.choices)
    days_until_due = models.PositiveSmallIntegerField(null=True, blank=True)
    description = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=16, choices=InvoiceStatus.choices, default="draft")
    total_cents = models.BigIntegerField()
    amount_paid_cents = models.BigIntegerField(default=0)
    # Pre-payment credit notes (Stripe's pre_payment_credit_notes_amount): lowers what is due.
    amount_credited_cents = models.BigIntegerField(default=0)
    stripe_invoice_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    number = models.CharField(max_length=64, blank=True)
    hosted_invoice_url = models.URLField(max_length=1000, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    finalized_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)  # voided or marked uncollectible

    objects: ClassVar[InvoiceQuerySet] = InvoiceQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(
                name="invoice_total_not_negative", condition=Q(total_cents__gte=0)
            ),
            models.CheckConstraint(
                name="invoice_credited_within_total",
                condition=Q(amount_credited_cents__gte=0)
                & Q(amount_credited_cents__lte=models.F("total_cents")),
            ),
            models.CheckConstraint(
                name="invoice_send_invoice_has_terms",
                condition=~Q(collection_method="send_invoice") | Q(days_until_due__isnull=False),
            ),
        ]
        indexes: ClassVar = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"invoice #{self.pk} ({self.status}, {self.total_cents} {self.currency})"

    @property
    def amount_due_cents(self) -> int:
        """What the invoice asks for: its total less pre-payment credit notes (Stripe's
        amount_due)."""
        return self.total_cents - self.amount_credited_cents

    @property
    def amount_remaining_cents(self) -> int:
        """What is still to be paid (Stripe's amount_remaining)."""
        return max(0, self.amount_due_cents - self.amount_paid_cents)


class InvoiceLineKind(models.TextChoices):
    MEMBERSHIP_FEE = "membership_fee"  # a membership's price for one of its periods
    PLAN_CHANGE_FEE = "plan_change_fee"  # the new plan's price when a change takes effect now
    ADJUSTMENT = "adjustment"  # anything else (credits for unused time, corrections)
    EMPLOYER_SEAT = "employer_seat"  # an employer's share of one member's month (sponsored)
    MEMBER_SHARE = "member_share"  # the member's own share of a partly sponsored month


class InvoiceLine(models.Model):
    """One charge on an invoice for one service period; pushed to Stripe as one invoice item.
    A membership is billed at most once per period: the database refuses a second fee line
    for the same membership and period start, whoever (or however many bill runs) tries."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines")
    kind = models.CharField(
        max_length=20, choices=InvoiceLineKind.choices, default=InvoiceLineKind.ADJUSTMENT
    )
    membership = models.ForeignKey(
        "memberships.Membership",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoice_lines",
    )
    description = models.CharField(max_length=500)
    amount_cents = models.BigIntegerField()
    period_start = models.DateField()
    period_end = models.DateField()
    stripe_invoice_item_id = models.CharField(max_length=255, unique=True, null=True, blank=True)

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(
                name="invoice_line_period_ordered",
                condition=Q(period_end__gte=models.F("period_start")),
            ),
            models.UniqueConstraint(
                fields=["membership", "period_start"],
                condition=Q(kind="membership_fee"),
                name="invoice_line_one_fee_per_membership_period",
            ),
            models.UniqueConstraint(  # one employer line per member-month, however many runs
                fields=["membership", "period_start"],
                condition=Q(kind="employer_seat"),
                name="invoice_line_one_seat_per_membership_month",
            ),
            models.UniqueConstraint(  # one member-share line per member-month
                fields=["membership", "period_start"],
                condition=Q(kind="member_share"),
                name="invoice_line_one_share_per_membership_month",
            ),
            models.CheckConstraint(
                name="invoice_line_fee_has_membership",
                condition=~Q(kind="membership_fee") | Q(membership__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.description}: {self.amount_cents}"


class PaymentStatus(models.TextChoices):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Payment(models.Model):
    """One attempt to collect an invoice. At most one succeeded payment per invoice, enforced
    by the database, so a retried or replayed charge can never be recorded twice."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    status = models.CharField(max_length=16, choices=PaymentStatus.choices)
    amount_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    # Stripe reuses one PaymentIntent for every attempt on an invoice; each attempt is a charge.
    stripe_payment_intent_id = models.CharField(  # noqa: DJ001  (NULL: none known yet)
        max_length=255, null=True, blank=True, db_index=True
    )
    stripe_charge_id = models.CharField(max_length=255, blank=True)
    # What Stripe kept of a succeeded charge (its balance transaction's fee), once fetched.
    stripe_fee_cents = models.BigIntegerField(null=True, blank=True)
    failure_code = models.CharField(max_length=64, blank=True)  # e.g. card_declined
    decline_code = models.CharField(max_length=64, blank=True)  # e.g. insufficient_funds
    failure_message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["invoice"],
                condition=Q(status="succeeded"),
                name="payment_one_success_per_invoice",
            ),
            models.UniqueConstraint(
                fields=["stripe_charge_id"],
                condition=~Q(stripe_charge_id=""),
                name="payment_one_row_per_charge",
            ),
        ]

    def __str__(self) -> str:
        return f"payment #{self.pk} {self.status} {self.amount_cents}"


class RefundStatus(models.TextChoices):
    PENDING = "pending"  # committed locally, on its way to Stripe
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Refund(models.Model):
    """Money given back on a succeeded payment. The services never let the refunds of a payment
    add up to more than it took (checked under the payment's row lock)."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount_cents = models.BigIntegerField()
    reason = models.CharField(max_length=200)
    status = models.CharField(
        max_length=16, choices=RefundStatus.choices, default=RefundStatus.PENDING
    )
    stripe_refund_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    # Who asked for it (finance staff through the API); None for the system (e.g. a
    # cancellation's prorated refund).
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(name="refund_amount_positive", condition=Q(amount_cents__gt=0))
        ]

    def __str__(self) -> str:
        return f"refund #{self.pk} {self.amount_cents} ({self.status})"


class DisputeStatus(models.TextChoices):
    """Stripe's dispute statuses; `won` and `lost` (and an inquiry's `warning_closed`, or
    `prevented`) are final."""

    WARNING_NEEDS_RESPONSE = "warning_needs_response"
    WARNING_UNDER_REVIEW = "warning_under_review"
    WARNING_CLOSED = "warning_closed"
    NEEDS_RESPONSE = "needs_response"
    UNDER_REVIEW = "under_review"
    WON = "won"
    LOST = "lost"
    PREVENTED = "prevented"


CLOSED_DISPUTE_STATUSES = frozenset(
    {
        DisputeStatus.WON,
        DisputeStatus.LOST,
        DisputeStatus.WARNING_CLOSED,
        DisputeStatus.PREVENTED,
    }
)


class Dispute(models.Model):
    """A cardholder's bank pulling back (part of) a succeeded payment, mirrored from Stripe's
    `charge.dispute.*` webhooks. It opens once and closes once; a replayed or late event never
    moves it back (billing/services.py `dispute_sync_from_stripe`)."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="disputes")
    stripe_dispute_id = models.CharField(max_length=255, unique=True)
    stripe_charge_id = models.CharField(max_length=255)
    amount_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=32, choices=DisputeStatus.choices)
    reason = models.CharField(max_length=64)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(name="dispute_amount_positive", condition=Q(amount_cents__gt=0))
        ]

    def __str__(self) -> str:
        return f"dispute {self.stripe_dispute_id} {self.amount_cents} ({self.status})"

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSED_DISPUTE_STATUSES


class CreditNoteStatus(models.TextChoices):
    PENDING = "pending"  # committed locally, on its way to Stripe
    ISSUED = "issued"
    FAILED = "failed"  # Stripe refused it


class CreditNote(models.Model):
    """A credit on an open invoice (a Stripe pre-payment credit note): lowers what the invoice
    asks for. Credit notes of an invoice never add up to more than it has left to pay (checked
    under the invoice's row lock). Paid invoices are refunded instead (Refund)."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    amount_cents = models.BigIntegerField()
    reason = models.CharField(max_length=200)
    status = models.CharField(
        max_length=16, choices=CreditNoteStatus.choices, default=CreditNoteStatus.PENDING
    )
    stripe_credit_note_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    number = models.CharField(max_length=64, blank=True)  # Stripe's, e.g. ABC-0001-CN-01
    created_at = models.DateTimeField(default=clock.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(
                name="credit_note_amount_positive", condition=Q(amount_cents__gt=0)
            )
        ]

    def __str__(self) -> str:
        return f"credit note #{self.pk} {self.amount_cents} ({self.status})"


class StripeCommandKind(models.TextChoices):
    CUSTOMER_SYNC = "customer_sync"  # create or update the Stripe customer, default payment method
    INVOICE_PUSH = "invoice_push"  # draft → items → finalize → pay (members) or send (employers)
    INVOICE_VOID = "invoice_void"
    INVOICE_MARK_UNCOLLECTIBLE = "invoice_mark_uncollectible"
    INVOICE_PAY = "invoice_pay"  # a further charge attempt (new card, dunning retry)
    REFUND_CREATE = "refund_create"
    PAYMENT_FEE_FETCH = "payment_fee_fetch"  # read a succeeded payment's Stripe fee
    CREDIT_NOTE_CREATE = "credit_note_create"


class StripeCommandStatus(models.TextChoices):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"  # claimed by a pusher; reclaimable once the lease expires
    DONE = "done"
    FAILED = "failed"  # a permanent error, or out of attempts: needs a person


class StripeCommand(models.Model):
    """The outbox. A local change that Stripe must learn about commits together with one of
    these rows; the pusher (billing/stripe_outbox.py) sends it later, outside any transaction.
    `idempotency_key` is fixed when the row is written, before the first attempt; every Stripe
    request of the command uses it plus a step suffix, so retries can never act twice."""

    kind = models.CharField(max_length=40, choices=StripeCommandKind.choices)
    customer = models.ForeignKey(
        BillingCustomer, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    invoice = models.ForeignKey(
        Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="stripe_commands"
    )
    refund = models.ForeignKey(
        Refund, null=True, blank=True, on_delete=models.PROTECT, related_name="stripe_commands"
    )
    credit_note = models.ForeignKey(
        CreditNote,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="stripe_commands",
    )
    idempotency_key = models.CharField(max_length=200, unique=True)
    status = models.CharField(
        max_length=16, choices=StripeCommandStatus.choices, default=StripeCommandStatus.PENDING
    )
    # What the command needs that may change locally before it runs (e.g. the card to attach),
    # frozen when the command is written so every retry sends Stripe the same parameters.
    payload = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Who holds the command: every write of a pusher is conditional on its token.
    lease_token = models.UUIDField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes: ClassVar = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "in_progress"]),
                name="stripe_command_due",
            )
        ]
        constraints: ClassVar = [
            models.CheckConstraint(
                name="stripe_command_has_target",
                condition=Q(customer__isnull=False) | Q(invoice__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["invoice"],
                condition=Q(kind="invoice_push"),
                name="stripe_command_one_push_per_invoice",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"


class BillingInstallation(models.Model):
    """One row: this database's own id. It prefixes every Stripe idempotency key, so two
    databases sharing one Stripe account (developers, CI, a database rebuilt while the
    emulator kept its data) can never answer each other's requests."""

    installation_id = models.UUIDField(default=uuid.uuid4, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return str(self.installation_id)


class StripeEvent(models.Model):
    """Every webhook event Stripe sent, stored raw before anything is done with it. The Stripe
    event id is unique: a duplicate delivery is recognised and ignored."""

    stripe_event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    api_version = models.CharField(max_length=40, blank=True)
    stripe_created_at = models.DateTimeField()
    raw_body = models.TextField()
    payload = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    processing_attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes: ClassVar = [
            models.Index(
                fields=["received_at"],
                condition=Q(processed_at__isnull=True),
                name="stripe_event_unprocessed",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_event_id}"
