"""Emails to members about their membership. Each one follows from a membership event (so it is
queued in the transaction that records the event, at most once per event) or, for the renewal
reminder, from the daily run (at most once per membership and period).

- `activated` (the first payment went through): sign-up receipt;
- `prime_lapsed` (renewed at the standard price): Prime lapse notice;
- `renewal_failed`, `retry_failed` (a declined charge): failed payment, with the next retry's
  date or that it was the last;
- `recovered` (a retry or a new card paid): payment received;
- `cancellation_scheduled`: cancellation confirmed, with the last day;
- `canceled_at_period_end`, `canceled_now`, `dunning_exhausted`: membership ended (with the
  refund, if any);
- 7 days before a period ends (no event): upcoming renewal, with the price to be charged.

The context holds only what the message says: plan, amounts, dates, the invoice link.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from billing.models import Invoice
from billing.money import money_display
from config import clock
from memberships.models import Member, Membership, MembershipEvent, MembershipStatus
from memberships.selectors import membership_renewal_price_get
from notifications.models import EmailNotification, NotificationKind
from notifications.services import notification_queue, notifications_queue_many

RENEWAL_REMINDER_DAYS = 7

EVENT_NOTIFICATIONS: dict[str, NotificationKind] = {
    "activated": NotificationKind.SIGNUP_RECEIPT,
    "prime_lapsed": NotificationKind.PRIME_LAPSED,
    "renewal_failed": NotificationKind.PAYMENT_FAILED,
    "retry_failed": NotificationKind.PAYMENT_FAILED,
    "recovered": NotificationKind.PAYMENT_RECOVERED,
    "cancellation_scheduled": NotificationKind.CANCELLATION_SCHEDULED,
    "canceled_at_period_end": NotificationKind.MEMBERSHIP_CANCELED,
    "canceled_now": NotificationKind.MEMBERSHIP_CANCELED,
    "dunning_exhausted": NotificationKind.MEMBERSHIP_CANCELED,
}


def membership_event_notify(*, event: MembershipEvent) -> None:
    """Queue the email that `event` calls for, if any (see the table above)."""
    kind = EVENT_NOTIFICATIONS.get(event.kind)
    if kind is None:
        return
    membership = event.membership
    context: dict[str, Any] = {
        "event": event.kind,
        "plan": membership.price.name,
        "period_start": _day(membership.current_period_start),
        "period_end": _day(membership.current_period_end),
    }
    data = event.data
    if "invoice_id" in data:
        invoice = Invoice.objects.get(pk=data["invoice_id"])
        context["amount"] = money_display(
            amount_cents=invoice.total_cents, currency=invoice.currency
        )
        context["invoice_url"] = invoice.hosted_invoice_url
    if "amount_cents" in data:  # prime_lapsed: the standard price now charged
        context["amount"] = money_display(amount_cents=data["amount_cents"])
    if "refund_cents" in data:
        context["refund_cents"] = data["refund_cents"]
        context["refund"] = money_display(amount_cents=data["refund_cents"])
    if data.get("next_retry_on"):
        context["next_retry_on"] = _day(dt.date.fromisoformat(data["next_retry_on"]))
    if "final" in data:
        context["final"] = data["final"]
    notification_queue(
        user_id=_user_id_of(membership),
        kind=kind,
        dedupe_key=f"membership-event:{event.pk}",
        context=context,
    )


def membership_renewal_reminders_queue(*, as_of: dt.date) -> int:
    """Queue the upcoming-renewal email for every active membership whose next period starts
    within `RENEWAL_REMINDER_DAYS` days of `as_of` and will renew (not set to cancel), with the
    price the bill run will charge. Once per membership and period; safe to run every hour."""
    horizon = as_of + dt.timedelta(days=RENEWAL_REMINDER_DAYS - 1)
    due = (
        Membership.objects.filter(
            status=MembershipStatus.ACTIVE,
            cancel_at_period_end=False,
            sponsor__isnull=True,  # sponsored ones are billed to the employer, monthly
            current_period_end__gte=as_of,
            current_period_end__lte=horizon,
        )
        .select_related("price", "next_price", "member")
        .order_by("id")
    )
    reminders = []
    for membership in due.iterator(chunk_size=1000):
        renews_on = membership.current_period_end + dt.timedelta(days=1)
        renewal = membership_renewal_price_get(membership=membership, start=renews_on)
        reminders.append(
            EmailNotification(
                kind=NotificationKind.RENEWAL_UPCOMING,
                user_id=membership.member.user_id,
                dedupe_key=f"renewal-upcoming:{membership.pk}:{renews_on.isoformat()}",
                context={
                    "plan": renewal.price.name,
                    "amount": money_display(
                        amount_cents=renewal.price.amount_cents, currency=renewal.price.currency
                    ),
                    "renews_on": _day(renews_on),
                    "prime_lapsed": renewal.prime_lapsed,
                    "planned_plan": renewal.planned.name,
                },
                created_at=clock.now(),
                next_attempt_at=clock.now(),
            )
        )
    return notifications_queue_many(notifications=reminders)


def _user_id_of(membership: Membership) -> int:
    return int(Member.objects.values_list("user_id", flat=True).get(pk=membership.member_id))


def _day(day: dt.date) -> str:
    return f"{day:%B} {day.day}, {day.year}"
