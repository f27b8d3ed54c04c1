"""The ledger's rules, in PostgreSQL itself, so no code path (or a hand-typed SQL statement)
can break them:

- an entry's postings sum to zero per currency, and there are at least two: a constraint
  trigger deferred to the commit, so an entry's postings can be inserted one by one;
- posted entries and postings are never updated or deleted (corrections are reversing entries).

TRUNCATE is not blocked: it is an administrator's tool (and how the test suite resets tables).
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION ledger_entry_must_balance() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n integer;
    off record;
BEGIN
    SELECT count(*) INTO n FROM ledger_posting WHERE entry_id = NEW.entry_id;
    IF n < 2 THEN
        RAISE EXCEPTION 'journal entry % has % posting(s); an entry needs at least two',
            NEW.entry_id, n USING ERRCODE = 'check_violation';
    END IF;
    SELECT currency, sum(amount_cents) AS total INTO off
      FROM ledger_posting WHERE entry_id = NEW.entry_id
     GROUP BY currency HAVING sum(amount_cents) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % does not balance: postings in % sum to %',
            NEW.entry_id, off.currency, off.total USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_posting_entry_balances
    AFTER INSERT ON ledger_posting DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_must_balance();

CREATE FUNCTION ledger_posted_rows_are_permanent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % refused: posted ledger rows are permanent (post a reversing entry)',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER ledger_posting_permanent BEFORE UPDATE OR DELETE ON ledger_posting
    FOR EACH ROW EXECUTE FUNCTION ledger_posted_rows_are_permanent();
CREATE TRIGGER ledger_journalentry_permanent BEFORE UPDATE OR DELETE ON ledger_journalentry
    FOR EACH ROW EXECUTE FUNCTION ledger_posted_rows_are_permanent();
"""

BACKWARD = """
DROP TRIGGER ledger_journalentry_permanent ON ledger_journalentry;
DROP TRIGGER ledger_posting_permanent ON ledger_posting;
DROP FUNCTION ledger_posted_rows_are_permanent();
DROP TRIGGER ledger_posting_entry_balances ON ledger_posting;
DROP FUNCTION ledger_entry_must_balance();
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
