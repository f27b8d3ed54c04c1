"""The one writer of journal entries and postings. Everything else posts through
`journal_entry_post`; the database refuses unbalanced entries and any change to posted rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from psycopg.errors import UniqueViolation

from ledger.models import Account, JournalEntry, Posting, RevenueSchedule


@dataclass(frozen=True)
class Dimensions:
    partner_id: int | None = None
    market_id: int | None = None
    membership_id: int | None = None
    invoice_line_id: int | None = None

    @classmethod
    def of_schedule(cls, schedule: RevenueSchedule) -> Dimensions:
        """The dimensions of the revenue a schedule recognizes."""
        return cls(
            schedule.partner_id,
            schedule.market_id,
            schedule.membership_id,
            schedule.invoice_line_id,
        )


NO_DIMENSIONS = Dimensions()


@dataclass(frozen=True)
class PostingInput:
    account: Account
    amount_cents: int  # debit > 0, credit < 0
    dimensions: Dimensions = NO_DIMENSIONS
    currency: str = "usd"


def debit_credit(
    *,
    debit: Account,
    credit: Account,
    amount_cents: int,
    dimensions: Dimensions = NO_DIMENSIONS,
    currency: str = "usd",
) -> list[PostingInput]:
    """The two postings that move `amount_cents` from `credit` to `debit` (swapped when the
    amount is negative); nothing for zero."""
    if amount_cents == 0:
        return []
    return [
        PostingInput(debit, amount_cents, dimensions, currency),
        PostingInput(credit, -amount_cents, dimensions, currency),
    ]


def journal_entry_post(
    *,
    idempotency_key: str,
    kind: str,
    occurred_on: dt.date,
    postings: list[PostingInput],
    memo: str = "",
    reverses: JournalEntry | None = None,
) -> JournalEntry | None:
    """Post one balanced entry for the business event named by `idempotency_key`, once: the
    key posted before (now, or concurrently) returns that entry and posts nothing. Postings
    that net to nothing are left out; an entry with none is not posted (returns None)."""
    postings = [p for p in postings if p.amount_cents != 0]
    existing = JournalEntry.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None or not postings:
        return existing
    try:
        with transaction.atomic():
            entry = JournalEntry.objects.create(
                idempotency_key=idempotency_key,
                kind=kind,
                occurred_on=occurred_on,
                memo=memo[:500],
                reverses=reverses,
            )
            Posting.objects.bulk_create(
                Posting(
                    entry=entry,
                    account=p.account,
                    amount_cents=p.amount_cents,
                    currency=p.currency,
                    occurred_on=occurred_on,
                    partner_id=p.dimensions.partner_id,
                    market_id=p.dimensions.market_id,
                    membership_id=p.dimensions.membership_id,
                    invoice_line_id=p.dimensions.invoice_line_id,
                )
                for p in postings
            )
    except IntegrityError as exc:
        if not isinstance(exc.__cause__, UniqueViolation):
            raise  # unbalanced, or another rule of the database
        # the same event posted concurrently won the unique key
        return JournalEntry.objects.get(idempotency_key=idempotency_key)
    return entry


def journal_entry_reverse(
    *, entry: JournalEntry, idempotency_key: str, occurred_on: dt.date, memo: str = ""
) -> JournalEntry | None:
    """Post the mirror image of `entry` (the only way to correct a posted entry)."""
    postings = [
        PostingInput(
            posting.account,
            -posting.amount_cents,
            Dimensions(
                posting.partner_id,
                posting.market_id,
                posting.membership_id,
                posting.invoice_line_id,
            ),
            posting.currency,
        )
        for posting in entry.postings.select_related("account")
    ]
    return journal_entry_post(
        idempotency_key=idempotency_key,
        kind=f"{entry.kind}_reversed",
        occurred_on=occurred_on,
        postings=postings,
        memo=memo or f"reverses {entry.idempotency_key}",
        reverses=entry,
    )
