"""The ledger's rules hold in PostgreSQL itself: a hand-typed UPDATE, DELETE or unbalanced
INSERT fails."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction

from ledger import chart
from ledger.journal import PostingInput, debit_credit, journal_entry_post
from ledger.models import JournalEntry, Posting

pytestmark = pytest.mark.django_db(transaction=True)

DAY = dt.date(2027, 1, 1)


@pytest.fixture
def entry() -> JournalEntry:
    posted = journal_entry_post(
        idempotency_key="test:1",
        kind="test",
        occurred_on=DAY,
        postings=debit_credit(
            debit=chart.account_get(chart.CASH_STRIPE),
            credit=chart.account_get(chart.RECEIVABLE_MEMBER),
            amount_cents=9900,
        ),
    )
    assert posted is not None
    return posted


def sql(statement: str, *params: int | dt.date) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_a_posting_cannot_be_updated(entry):
    with pytest.raises(IntegrityError, match="posted ledger rows are permanent"):
        sql("UPDATE ledger_posting SET amount_cents = 1 WHERE entry_id = %s", entry.pk)
    assert sorted(Posting.objects.values_list("amount_cents", flat=True)) == [-9900, 9900]


def test_a_posting_cannot_be_deleted(entry):
    with pytest.raises(IntegrityError, match="posted ledger rows are permanent"):
        sql("DELETE FROM ledger_posting WHERE entry_id = %s", entry.pk)
    assert Posting.objects.count() == 2


def test_an_entry_cannot_be_updated_or_deleted(entry):
    with pytest.raises(IntegrityError, match="permanent"):
        sql("UPDATE ledger_journalentry SET memo = 'x' WHERE id = %s", entry.pk)
    with pytest.raises(IntegrityError, match="permanent"):
        sql("DELETE FROM ledger_journalentry WHERE id = %s", entry.pk)


def test_an_unbalanced_insert_fails_at_commit(entry):
    account = chart.account_get(chart.CASH_STRIPE)
    with pytest.raises(IntegrityError, match="does not balance"):
        sql(
            "INSERT INTO ledger_posting (entry_id, account_id, amount_cents, currency, "
            "occurred_on) VALUES (%s, %s, 1, 'usd', %s)",
            entry.pk,
            account.pk,
            DAY,
        )
    assert Posting.objects.count() == 2


def test_an_entry_of_one_posting_fails_even_at_zero_sum_per_currency():
    with pytest.raises(IntegrityError, match="needs at least two"):
        journal_entry_post(
            idempotency_key="test:lonely",
            kind="test",
            occurred_on=DAY,
            postings=[PostingInput(chart.account_get(chart.CASH_STRIPE), 5)],
        )
    assert not JournalEntry.objects.exists()


def test_balanced_per_currency_not_across_currencies():
    cash = chart.account_get(chart.CASH_STRIPE)
    with pytest.raises(IntegrityError, match="does not balance"):
        journal_entry_post(
            idempotency_key="test:fx",
            kind="test",
            occurred_on=DAY,
            postings=[
                PostingInput(cash, 100, currency="usd"),
                PostingInput(cash, -100, currency="eur"),
            ],
        )


def test_the_same_business_event_posts_once(entry):
    again = journal_entry_post(
        idempotency_key="test:1",
        kind="test",
        occurred_on=DAY,
        postings=debit_credit(
            debit=chart.account_get(chart.CASH_STRIPE),
            credit=chart.account_get(chart.RECEIVABLE_MEMBER),
            amount_cents=9900,
        ),
    )
    assert again == entry
    assert Posting.objects.count() == 2
