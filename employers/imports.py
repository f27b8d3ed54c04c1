"""Bulk roster import from a CSV file: upload, validation into a preview, confirmation, apply.

The file
--------
UTF-8 (a byte-order mark is fine), comma-separated, quoted as Excel and Python's `csv` do. The
first line is the header and names these six columns, in any order (case and surrounding
spaces do not matter, no other column is allowed):

    external_id,full_name,work_email,date_of_birth,eligible_from,eligible_until

- `external_id`: the employer's own employee id, 1..64 characters; identifies the entry.
- `full_name`: 1..200 characters.
- `work_email`: a valid address of at most 254 characters; stored lower-case.
- `date_of_birth`, `eligible_from`, `eligible_until`: ISO dates, `YYYY-MM-DD`. The date of birth
  is in the past and after 1900-01-01; eligibility starts after the date of birth;
  `eligible_until` is the LAST eligible day (inclusive), at or after `eligible_from`, and an
  empty `eligible_until` means open-ended.
Blank lines are skipped. At most `MAX_ROWS` data rows and `MAX_FILE_BYTES` bytes.

Lines and errors
----------------
Line numbers are physical lines of the file, the header being line 1 (a quoted value spanning
two lines makes its row start on the first of them). Each error is
`{"line", "field", "message", "external_id"}`; `field` is a column name or `row` (wrong number
of values). Every error is kept (`RosterImport.errors`, ordered by line; `error_count` is its
length) and paginated by `GET …/imports/{id}/errors/`. Besides the per-field rules:
- the same `external_id` or the same `work_email` (case-insensitively) twice in the file is an
  error on the later line;
- a `work_email` that belongs to another external id of this employer's roster (terminated
  entries included: the address stays theirs) is an error.

Flow
----
1. `roster_import_create` (the upload): refuses an unreadable file, a missing header, a file too
   large or with too many rows; stores the bytes and their SHA-256, queues validation.
2. `roster_import_validate` (Celery): queued → validating → preview. Rows are checked as they
   stream out of the `csv` reader; valid rows are written with PostgreSQL COPY (psycopg's
   `cursor.copy`) in chunks of `PROGRESS_EVERY` rows into a temporary table of the session,
   each chunk committed with the new `processed_rows`, so that GET shows the progress. Then ONE
   set-based statement (INSERT … SELECT … LEFT JOIN the roster) stages every row in
   `RosterImportRow` with its action (add / update / unchanged, comparing every field) and
   counts them; the staging rows are thus written once, in the transaction that turns the
   import into a preview. With `replace`, `to_terminate` counts the entries
   `roster_import_terminations` would end.
3. `roster_import_confirm`: only from preview; with errors only when `valid_rows_only` (else a
   409 carrying `error_count`); preview → applying, and the apply is queued.
4. `roster_import_apply` (Celery): in ONE transaction, under a lock on the employer: the staged
   rows are classified again against the roster as it is now (only rows whose action changed
   are rewritten); one UPDATE … FROM writes the changed entries, one INSERT … SELECT the new
   ones, each writing its `RosterChange` rows in the same statement (field → [before, after];
   [null, value] for an added entry); with `replace`, one UPDATE terminates the missing entries
   and writes their history. applying → applied, with the counts actually applied. Rows with
   errors are never applied (only valid rows are staged), and an entry whose row has an error
   is not terminated by a replacement either (it is in the file). If the roster changed under
   the import in a way a uniqueness rule refuses, nothing is applied and the import is failed.

Termination date (full replacement): an entry missing from the file stays eligible through the
day the replacement is applied (`clock.today()` at apply time is its `eligible_until`); an entry
that has not started yet ends on its `eligible_from` (the roster cannot end before it starts).
Entries already ending by then are left alone. `roster_entries_terminated` is sent once per
apply with every entry whose eligibility the import cut short: those terminated by the
replacement and those whose row set an earlier (or a first) `eligible_until`.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.fields import BooleanField
from django.db.models.functions import Greatest, Lower

from accounts.models import User
from config import clock
from config.errors import ConflictError, DomainError
from employers.models import (
    Employer,
    RosterChangeKind,
    RosterEntry,
    RosterImport,
    RosterImportAction,
    RosterImportRow,
    RosterImportStatus,
)
from employers.signals import roster_entries_terminated

MAX_ROWS = 100_000
MAX_FILE_BYTES = 20 * 1024 * 1024
PROGRESS_EVERY = 5_000
COLUMNS = (
    "external_id",
    "full_name",
    "work_email",
    "date_of_birth",
    "eligible_from",
    "eligible_until",
)
EXTERNAL_ID_MAX = 64
FULL_NAME_MAX = 200
WORK_EMAIL_MAX = 254
EARLIEST_BIRTH = dt.date(1900, 1, 1)

# The addresses Django's EmailValidator accepts without punycode or IP literals (dot-atom local
# part, LDH domain labels): checked in one match; anything else goes to validate_email itself.
_EMAIL_FAST = re.compile(
    r"[-!#$%&'*+/=?^_`{}|~0-9a-z]+(?:\.[-!#$%&'*+/=?^_`{}|~0-9a-z]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}(?<!-)"
)


class RosterFileInvalidError(DomainError):
    """The upload is not a roster CSV file we can read."""

    code = "invalid_file"
    http_status = 400


class RosterFileTooLargeError(DomainError):
    """The upload has more bytes or rows than one import takes."""

    code = "file_too_large"
    http_status = 413


# --- reading the file ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """Where each column sits in a row."""

    positions: tuple[int, ...]  # index in the row of each name of COLUMNS
    width: int


def _text(content: bytes) -> str:
    if b"\x00" in content:
        raise RosterFileInvalidError("The file is not a CSV text file (it holds NUL bytes).")
    try:
        return codecs.decode(content, "utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RosterFileInvalidError(
            f"The file is not UTF-8 text (undecodable byte at offset {exc.start})."
        ) from exc


def _layout(header: Sequence[str] | None) -> _Layout:
    if not header:
        raise RosterFileInvalidError(
            "The file is empty; its first line must be the header: " + ",".join(COLUMNS) + "."
        )
    names = [name.strip().lower() for name in header]
    missing = [name for name in COLUMNS if name not in names]
    unknown = [name for name in names if name not in COLUMNS]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if missing or unknown or repeated:
        problems = []
        if missing:
            problems.append("missing " + ", ".join(missing))
        if unknown:
            problems.append("unknown " + ", ".join(repr(name) for name in unknown))
        if repeated:
            problems.append("repeated " + ", ".join(repeated))
        raise RosterFileInvalidError(
            "The first line must be the header " + ",".join(COLUMNS) + f" ({'; '.join(problems)}).",
            details={"missing": missing, "unknown": unknown, "repeated": repeated},
        )
    return _Layout(positions=tuple(names.index(name) for name in COLUMNS), width=len(names))


def _records(text: str) -> tuple[_Layout, Iterator[tuple[int, list[str]]]]:
    """The layout from the header, and the data rows with the physical line each starts on."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise RosterFileInvalidError(f"The header line is not valid CSV: {exc}.") from exc
    layout = _layout(header)

    def rows() -> Iterator[tuple[int, list[str]]]:
        line = reader.line_num
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise RosterFileInvalidError(
                    f"Line {line + 1} is not valid CSV: {exc}.", details={"line": line + 1}
                ) from exc
            start, line = line + 1, reader.line_num
            if row and "".join(row).strip():
                yield start, row

    return layout, rows()


def roster_file_scan(*, content: bytes) -> int:
    """The number of data rows of a roster file; refuses what `roster_import_create` refuses."""
    if len(content) > MAX_FILE_BYTES:
        raise RosterFileTooLargeError(
            f"The file has {len(content)} bytes; an import takes at most {MAX_FILE_BYTES}.",
            details={"max_bytes": MAX_FILE_BYTES},
        )
    _, rows = _records(_text(content))
    count = 0
    for _ in rows:
        count += 1
        if count > MAX_ROWS:
            raise RosterFileTooLargeError(
                f"The file has more than {MAX_ROWS} data rows; split it.",
                details={"max_rows": MAX_ROWS},
            )
    return count


# --- checking rows ---------------------------------------------------------------------------


def _iso_date(value: str) -> dt.date | None:
    if len(value) != 10 or value[4] != "-" or value[7] != "-":
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _email_ok(email: str) -> bool:
    if _EMAIL_FAST.fullmatch(email):
        return True
    try:
        validate_email(email)
    except ValidationError:
        return False
    return True


# COPY's text format: tab-separated, \N for null, these characters escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class _RowChecker:
    """Checks rows one by one; remembers what it saw for the duplicate and conflict rules."""

    def __init__(self, *, layout: _Layout, roster_emails: dict[str, str], today: dt.date) -> None:
        self.layout = layout
        self.roster_emails = roster_emails  # lower-case work email → external id, whole roster
        self.today = today
        self.lines_by_external_id: dict[str, int] = {}
        self.lines_by_email: dict[str, int] = {}

    def check(self, line: int, row: list[str], errors: list[dict[str, Any]]) -> str | None:
        """The row as a line of COPY text (the dates as given: checked ISO dates), or None
        after appending its errors to `errors`."""
        if len(row) != self.layout.width:
            errors.append(
                _error(
                    line,
                    "row",
                    f"Expected {self.layout.width} values, found {len(row)}.",
                    "",
                )
            )
            return None
        p = self.layout.positions
        external_id = row[p[0]].strip()
        full_name = row[p[1]].strip()
        email = row[p[2]].strip().lower()
        raw_birth, raw_from, raw_until = row[p[3]].strip(), row[p[4]].strip(), row[p[5]].strip()
        found: list[tuple[str, str]] = []

        id_ok = 0 < len(external_id) <= EXTERNAL_ID_MAX
        if not external_id:
            found.append(("external_id", "Required."))
        elif not id_ok:
            found.append(("external_id", f"At most {EXTERNAL_ID_MAX} characters."))
        else:
            first = self.lines_by_external_id.setdefault(external_id, line)
            if first != line:
                found.append(("external_id", f"Already on line {first}."))

        if not full_name:
            found.append(("full_name", "Required."))
        elif len(full_name) > FULL_NAME_MAX:
            found.append(("full_name", f"At most {FULL_NAME_MAX} characters."))

        if not email:
            found.append(("work_email", "Required."))
        elif len(email) > WORK_EMAIL_MAX:
            found.append(("work_email", f"At most {WORK_EMAIL_MAX} characters."))
        elif not _email_ok(email):
            found.append(("work_email", "Not a valid email address."))
        else:
            first = self.lines_by_email.setdefault(email, line)
            owner = self.roster_emails.get(email)
            if first != line:
                found.append(("work_email", f"Already on line {first}."))
            elif owner is not None and owner != external_id:
                found.append(
                    ("work_email", f"Belongs to another roster entry (external id {owner}).")
                )

        birth = _iso_date(raw_birth)
        if not raw_birth:
            found.append(("date_of_birth", "Required."))
        elif birth is None:
            found.append(("date_of_birth", "Not a date as YYYY-MM-DD."))
        elif birth >= self.today or birth < EARLIEST_BIRTH:
            found.append(("date_of_birth", "Must be in the past and after 1900-01-01."))
            birth = None

        starts = _iso_date(raw_from)
        if not raw_from:
            found.append(("eligible_from", "Required."))
        elif starts is None:
            found.append(("eligible_from", "Not a date as YYYY-MM-DD."))
        elif birth is not None and starts <= birth:
            found.append(("eligible_from", "Must be after the date of birth."))

        until = _iso_date(raw_until) if raw_until else None
        if raw_until and until is None:
            found.append(("eligible_until", "Not a date as YYYY-MM-DD (or empty: open-ended)."))
        elif until is not None and starts is not None and until < starts:
            found.append(("eligible_until", "Must not be before eligible_from."))

        if found:
            errors.extend(
                _error(line, name, message, external_id if id_ok else "") for name, message in found
            )
            return None
        assert birth is not None  # noqa: S101  (no error: parsed)
        assert starts is not None  # noqa: S101
        until_text = raw_until or "\\N"
        return (
            f"{line}\t{external_id.translate(_COPY_ESCAPES)}\t{full_name.translate(_COPY_ESCAPES)}"
            f"\t{email.translate(_COPY_ESCAPES)}\t{raw_birth}\t{raw_from}\t{until_text}\n"
        )


def _error(line: int, field: str, message: str, external_id: str) -> dict[str, Any]:
    return {"line": line, "field": field, "message": message, "external_id": external_id}


# --- upload ------------------------------------------------------------------------------------


@transaction.atomic
def roster_import_create(
    *,
    employer: Employer,
    uploaded_by: User | None,
    file_name: str,
    content: bytes,
    replace: bool,
) -> RosterImport:
    """Store an uploaded roster file and queue its validation (after the commit)."""
    total_rows = roster_file_scan(content=content)
    roster_import = RosterImport.objects.create(
        employer=employer,
        uploaded_by=uploaded_by,
        file_name=file_name[:255],
        file_sha256=hashlib.sha256(content).hexdigest(),
        content=content,
        replace=replace,
        total_rows=total_rows,
    )
    from employers.tasks import roster_import_validate_task  # the task module imports this one

    import_id = roster_import.pk
    transaction.on_commit(lambda: roster_import_validate_task.delay(import_id))
    return roster_import


# --- validation ----------------------------------------------------------------------------


# Valid rows are COPYed, chunk by chunk, into a temporary table of the session (unlogged, no
# index, no foreign key: the cheapest write PostgreSQL has), then staged in one statement.
_COPY_TABLE = "roster_import_copy"
_COPY_TABLE_CREATE = f"""
CREATE TEMPORARY TABLE IF NOT EXISTS {_COPY_TABLE} (
    line integer NOT NULL,
    external_id varchar(64) NOT NULL,
    full_name varchar(200) NOT NULL,
    work_email varchar(254) NOT NULL,
    date_of_birth date NOT NULL,
    eligible_from date NOT NULL,
    eligible_until date
)
"""
_COPY_ROWS = (
    f"COPY {_COPY_TABLE} (line, external_id, full_name, work_email, date_of_birth,"
    " eligible_from, eligible_until) FROM STDIN"
)

# What applying a row `r` would do to the entry `e` with its external id (NULL when none).
_ACTION = """
CASE
    WHEN e.id IS NULL THEN 'add'
    WHEN e.full_name = r.full_name
         AND e.work_email = r.work_email
         AND e.date_of_birth = r.date_of_birth
         AND e.eligible_from = r.eligible_from
         AND e.eligible_until IS NOT DISTINCT FROM r.eligible_until THEN 'unchanged'
    ELSE 'update'
END
"""

# The one set-based pass: every copied row staged with what applying it would do, by external
# id against the roster: add (no entry), unchanged (every field equal) or update; and the counts.
_STAGE_ROWS = f"""
WITH staged AS (
    INSERT INTO employers_rosterimportrow (roster_import_id, line, external_id, full_name,
        work_email, date_of_birth, eligible_from, eligible_until, action, entry_id)
    SELECT %(import_id)s, r.line, r.external_id, r.full_name, r.work_email, r.date_of_birth,
           r.eligible_from, r.eligible_until, {_ACTION}, e.id
    FROM {_COPY_TABLE} r
    LEFT JOIN employers_rosterentry e
           ON e.employer_id = %(employer_id)s AND e.external_id = r.external_id
    RETURNING action
)
SELECT count(*) FILTER (WHERE action = 'add'),
       count(*) FILTER (WHERE action = 'update'),
       count(*) FILTER (WHERE action = 'unchanged')
FROM staged
"""  # noqa: S608  (formatted with constants only)


def _chunk_commit(import_id: int, rows: list[str], processed: int) -> None:
    """Copy a chunk of valid rows and record the progress, in one short transaction of its own
    (when called outside any, as the task does). Progress is advisory and the copied rows live
    in a temporary table: a crash loses both and the task starts over, so the commit does not
    wait for the disk (synchronous_commit off)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        if rows:
            with connection.cursor() as cursor, cursor.cursor.copy(_COPY_ROWS) as copy:
                copy.write("".join(rows))
        RosterImport.objects.filter(pk=import_id).update(processed_rows=processed)


def roster_import_validate(
    *,
    import_id: int,
    on_progress: Callable[[int], None] | None = None,
    progress_every: int = PROGRESS_EVERY,
) -> RosterImport:
    """Validate a queued import into staging rows and a preview (see the module docstring).

    Run outside a transaction: every chunk of staged rows commits with its progress. A second
    delivery of the task after a crash starts over (the staging rows are replaced); one that
    arrives after the preview changes nothing."""
    with transaction.atomic():
        roster_import = RosterImport.objects.select_for_update().get(pk=import_id)
        if roster_import.status not in (RosterImportStatus.QUEUED, RosterImportStatus.VALIDATING):
            return roster_import
        roster_import.status = RosterImportStatus.VALIDATING
        roster_import.processed_rows = 0
        roster_import.save(update_fields=["status", "processed_rows"])
        RosterImportRow.objects.filter(roster_import_id=import_id).delete()
    with connection.cursor() as cursor:
        cursor.execute(_COPY_TABLE_CREATE)
        cursor.execute(f"TRUNCATE {_COPY_TABLE}")

    try:
        layout, records = _records(_text(bytes(roster_import.content)))
        errors: list[dict[str, Any]] = []
        processed = _validate_rows(
            roster_import, layout, records, errors, on_progress, progress_every
        )
    except RosterFileInvalidError as exc:
        RosterImport.objects.filter(pk=import_id).update(
            status=RosterImportStatus.FAILED, failure=exc.message[:500]
        )
        roster_import.refresh_from_db()
        return roster_import

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                _STAGE_ROWS, {"employer_id": roster_import.employer_id, "import_id": import_id}
            )
            to_add, to_update, unchanged = cursor.fetchone()
            cursor.execute(f"DROP TABLE {_COPY_TABLE}")
        to_terminate = (
            roster_import_terminations(
                roster_import=roster_import, last_day=clock.today(), kept=_kept(errors)
            ).count()
            if roster_import.replace
            else 0
        )
        RosterImport.objects.filter(pk=import_id).update(
            status=RosterImportStatus.PREVIEW,
            total_rows=processed,
            processed_rows=processed,
            errors=errors,
            error_count=len(errors),
            to_add=to_add,
            to_update=to_update,
            unchanged=unchanged,
            to_terminate=to_terminate,
            validated_at=clock.now(),
        )
    roster_import.refresh_from_db()
    return roster_import


def _validate_rows(
    roster_import: RosterImport,
    layout: _Layout,
    records: Iterator[tuple[int, list[str]]],
    errors: list[dict[str, Any]],
    on_progress: Callable[[int], None] | None,
    progress_every: int,
) -> int:
    import_id = roster_import.pk
    checker = _RowChecker(
        layout=layout,
        roster_emails=dict(
            RosterEntry.objects.filter(employer_id=roster_import.employer_id).values_list(
                Lower("work_email"), "external_id"
            )
        ),
        today=clock.today(),
    )
    processed = 0
    batch: list[str] = []
    for line, row in records:
        processed += 1
        if processed > MAX_ROWS:
            raise RosterFileInvalidError(f"The file has more than {MAX_ROWS} data rows.")
        clean = checker.check(line, row, errors)
        if clean is not None:
            batch.append(clean)
        if processed % progress_every == 0:
            _chunk_commit(import_id, batch, processed)
            batch = []
            if on_progress is not None:
                on_progress(processed)
    if batch or processed % progress_every:
        _chunk_commit(import_id, batch, processed)
        if on_progress is not None:
            on_progress(processed)
    return processed


def _kept(errors: list[dict[str, Any]]) -> list[str]:
    """External ids of the file's rows with errors: in the file, so never terminated."""
    return sorted({error["external_id"] for error in errors if error.get("external_id")})


# --- reads -------------------------------------------------------------------------------------


def roster_import_terminations(
    *, roster_import: RosterImport, last_day: dt.date, kept: list[str] | None = None
) -> QuerySet[RosterEntry]:
    """The entries a full replacement ends when applied with `last_day` as their last eligible
    day: entries of the employer still eligible after that day (after their start, for those
    not started yet) whose external id is not in the file. `kept`: the external ids of the
    file's rows with errors (read from the import when not given)."""
    if kept is None:
        kept = _kept(
            RosterImport.objects.filter(pk=roster_import.pk).values_list("errors", flat=True)[0]
        )
    staged = RosterImportRow.objects.filter(roster_import_id=roster_import.pk).values("external_id")
    return (
        RosterEntry.objects.filter(employer_id=roster_import.employer_id)
        .filter(
            Q(eligible_until__isnull=True)
            | Q(eligible_until__gt=Greatest(F("eligible_from"), last_day))
        )
        .exclude(external_id__in=staged)
        .alias(
            kept_in_file=RawSQL(
                '"employers_rosterentry"."external_id" = ANY(%s::varchar[])',
                (kept,),
                output_field=BooleanField(),
            )
        )
        .filter(kept_in_file=False)
    )


def roster_import_errors(*, roster_import: RosterImport) -> list[dict[str, Any]]:
    """Every error of the file, by line."""
    errors: list[dict[str, Any]] = RosterImport.objects.filter(pk=roster_import.pk).values_list(
        "errors", flat=True
    )[0]
    return errors


def roster_import_terminated(*, roster_import: RosterImport) -> QuerySet[RosterEntry]:
    """The entries an applied replacement terminated."""
    return RosterEntry.objects.filter(
        changes__roster_import_id=roster_import.pk, changes__kind=RosterChangeKind.TERMINATED
    )


def roster_import_rows(
    *, roster_import: RosterImport, action: RosterImportAction | None = None
) -> QuerySet[RosterImportRow]:
    rows = RosterImportRow.objects.filter(roster_import_id=roster_import.pk)
    if action is not None:
        rows = rows.filter(action=action)
    return rows.order_by("line")


# --- confirmation and apply ------------------------------------------------------------------


@transaction.atomic
def roster_import_confirm(
    *, roster_import: RosterImport, actor: User, valid_rows_only: bool
) -> RosterImport:
    """Confirm a previewed import: preview → applying, the apply queued after the commit.
    Refused (409) unless in preview, and when the file has errors unless `valid_rows_only`."""
    locked = (
        RosterImport.objects.select_for_update().defer("content", "errors").get(pk=roster_import.pk)
    )
    if locked.status != RosterImportStatus.PREVIEW:
        raise ConflictError(
            f"Only an import in preview can be confirmed; this one is {locked.status}.",
            details={"status": locked.status},
        )
    if locked.error_count and not valid_rows_only:
        valid = locked.to_add + locked.to_update + locked.unchanged
        raise ConflictError(
            f"The file has {locked.error_count} errors; fix them and upload it again, or confirm "
            "with valid_rows_only to apply only the valid rows.",
            details={"error_count": locked.error_count, "invalid_rows": locked.total_rows - valid},
        )
    locked.status = RosterImportStatus.APPLYING
    locked.valid_rows_only = valid_rows_only
    locked.confirmed_by = actor
    locked.confirmed_at = clock.now()
    locked.save(update_fields=["status", "valid_rows_only", "confirmed_by", "confirmed_at"])
    from employers.tasks import roster_import_apply_task  # the task module imports this one

    import_id = locked.pk
    transaction.on_commit(lambda: roster_import_apply_task.delay(import_id))
    return locked


# Apply, step 1: the staged rows classified again against the roster as it is now (the
# employer is locked): only rows whose action changed since the preview are written.
_RECLASSIFY_ROWS = f"""
WITH classified AS (
    SELECT r.id, e.id AS entry_id, {_ACTION} AS action
    FROM employers_rosterimportrow r
    LEFT JOIN employers_rosterentry e
           ON e.employer_id = %(employer_id)s AND e.external_id = r.external_id
    WHERE r.roster_import_id = %(import_id)s
)
UPDATE employers_rosterimportrow r SET action = c.action, entry_id = c.entry_id
FROM classified c
WHERE r.id = c.id AND (r.action <> c.action OR r.entry_id IS DISTINCT FROM c.entry_id)
"""  # noqa: S608  (formatted with constants only)

# Step 2: entries whose row differs, updated, with their history: field → [before, after] for
# each field that changed (`target` holds the values before: a data-modifying CTE's changes are
# not seen by its siblings). Answers the ids whose eligibility now ends earlier (or at all).
_UPDATE_ENTRIES = """
WITH target AS (
    SELECT e.id,
           e.full_name AS full_name_before, r.full_name,
           e.work_email AS work_email_before, r.work_email,
           e.date_of_birth AS date_of_birth_before, r.date_of_birth,
           e.eligible_from AS eligible_from_before, r.eligible_from,
           e.eligible_until AS eligible_until_before, r.eligible_until
    FROM employers_rosterimportrow r JOIN employers_rosterentry e ON e.id = r.entry_id
    WHERE r.roster_import_id = %(import_id)s AND r.action = 'update'
), written AS (
    UPDATE employers_rosterentry e
       SET full_name = t.full_name, work_email = t.work_email, date_of_birth = t.date_of_birth,
           eligible_from = t.eligible_from, eligible_until = t.eligible_until,
           updated_at = %(now)s
      FROM target t WHERE e.id = t.id
    RETURNING e.id
), logged AS (
    INSERT INTO employers_rosterchange (employer_id, entry_id, kind, actor_id, roster_import_id,
                                        changes, created_at)
    SELECT %(employer_id)s, t.id, 'updated', %(actor_id)s, %(import_id)s,
           jsonb_strip_nulls(jsonb_build_object(
               'full_name', CASE WHEN t.full_name_before <> t.full_name
                   THEN jsonb_build_array(t.full_name_before, t.full_name) END,
               'work_email', CASE WHEN t.work_email_before <> t.work_email
                   THEN jsonb_build_array(t.work_email_before, t.work_email) END,
               'date_of_birth', CASE WHEN t.date_of_birth_before <> t.date_of_birth
                   THEN jsonb_build_array(t.date_of_birth_before, t.date_of_birth) END,
               'eligible_from', CASE WHEN t.eligible_from_before <> t.eligible_from
                   THEN jsonb_build_array(t.eligible_from_before, t.eligible_from) END,
               'eligible_until', CASE
                   WHEN t.eligible_until_before IS DISTINCT FROM t.eligible_until
                   THEN jsonb_build_array(t.eligible_until_before, t.eligible_until) END
           )),
           %(now)s
    FROM target t JOIN written w ON w.id = t.id
    RETURNING entry_id
)
SELECT t.id FROM target t JOIN logged l ON l.entry_id = t.id
WHERE t.eligible_until IS NOT NULL
  AND (t.eligible_until_before IS NULL OR t.eligible_until < t.eligible_until_before)
"""

# Step 3: new entries, with their history (every field: [null, value]). Answers their number.
_ADD_ENTRIES = """
WITH written AS (
    INSERT INTO employers_rosterentry (employer_id, external_id, full_name, work_email,
        date_of_birth, eligible_from, eligible_until, created_at, updated_at)
    SELECT %(employer_id)s, r.external_id, r.full_name, r.work_email, r.date_of_birth,
           r.eligible_from, r.eligible_until, %(now)s, %(now)s
    FROM employers_rosterimportrow r
    WHERE r.roster_import_id = %(import_id)s AND r.action = 'add'
    RETURNING id, external_id, full_name, work_email, date_of_birth, eligible_from,
              eligible_until
), logged AS (
    INSERT INTO employers_rosterchange (employer_id, entry_id, kind, actor_id, roster_import_id,
                                        changes, created_at)
    SELECT %(employer_id)s, w.id, 'added', %(actor_id)s, %(import_id)s,
           jsonb_build_object(
               'external_id', jsonb_build_array(NULL, w.external_id),
               'full_name', jsonb_build_array(NULL, w.full_name),
               'work_email', jsonb_build_array(NULL, w.work_email),
               'date_of_birth', jsonb_build_array(NULL, w.date_of_birth),
               'eligible_from', jsonb_build_array(NULL, w.eligible_from),
               'eligible_until', jsonb_build_array(NULL, w.eligible_until)
           ),
           %(now)s
    FROM written w
    RETURNING 1
)
SELECT count(*) FROM logged
"""

# Positional parameters, in this order: last day, the candidates' own, now, employer, actor,
# import, now.
_TERMINATE_ENTRIES = """
WITH target AS (
    SELECT e.id, e.eligible_until AS before, GREATEST(e.eligible_from, %s::date) AS after
    FROM employers_rosterentry e
    WHERE e.id IN ({candidates})
), written AS (
    UPDATE employers_rosterentry e SET eligible_until = t.after, updated_at = %s
    FROM target t WHERE e.id = t.id
    RETURNING e.id
)
INSERT INTO employers_rosterchange (employer_id, entry_id, kind, actor_id, roster_import_id,
                                    changes, created_at)
SELECT %s, t.id, 'terminated', %s, %s,
       jsonb_build_object('eligible_until', jsonb_build_array(t.before, t.after)), %s
FROM target t JOIN written w ON w.id = t.id
RETURNING entry_id
"""


@dataclass(frozen=True)
class _Applied:
    added: int
    updated: int
    terminated_ids: list[int]
    cut_short_ids: list[int]


def roster_import_apply(*, import_id: int) -> RosterImport:
    """Apply a confirmed import in one transaction (see the module docstring); a delivery for
    an import that is not `applying` does nothing. When the roster changed under it in a way
    that breaks a uniqueness rule (another entry took a work email since the preview), nothing
    is applied and the import is `failed` with the reason."""
    try:
        with transaction.atomic():
            roster_import = (
                RosterImport.objects.select_for_update().defer("content").get(pk=import_id)
            )
            if roster_import.status != RosterImportStatus.APPLYING:
                return roster_import
            # One import applies at a time per employer.
            Employer.objects.select_for_update().filter(pk=roster_import.employer_id).exists()
            applied = _apply(roster_import)
            ids = sorted({*applied.terminated_ids, *applied.cut_short_ids})
            if ids:
                roster_entries_terminated.send(
                    sender=RosterEntry, entry_ids=ids, actor=roster_import.confirmed_by
                )
            staged = RosterImportRow.objects.filter(roster_import_id=import_id).count()
            RosterImport.objects.filter(pk=import_id).update(
                status=RosterImportStatus.APPLIED,
                to_add=applied.added,
                to_update=applied.updated,
                unchanged=staged - applied.added - applied.updated,
                to_terminate=len(applied.terminated_ids),
                applied_at=clock.now(),
            )
    except IntegrityError as exc:
        RosterImport.objects.filter(pk=import_id).update(
            status=RosterImportStatus.FAILED,
            failure=(
                "The roster changed since the preview and the import no longer fits it "
                f"({str(exc).splitlines()[0]}); upload the file again."
            )[:500],
        )
    return RosterImport.objects.defer("content").get(pk=import_id)


def _apply(roster_import: RosterImport) -> _Applied:
    now = clock.now()
    params: dict[str, Any] = {
        "import_id": roster_import.pk,
        "employer_id": roster_import.employer_id,
        "actor_id": roster_import.confirmed_by_id,
        "now": now,
    }
    with connection.cursor() as cursor:
        cursor.execute(_RECLASSIFY_ROWS, params)
        cursor.execute(_UPDATE_ENTRIES, params)
        cut_short = [entry_id for (entry_id,) in cursor.fetchall()]
        cursor.execute(
            "SELECT count(*) FROM employers_rosterimportrow"
            " WHERE roster_import_id = %(import_id)s AND action = 'update'",
            params,
        )
        (updated,) = cursor.fetchone()
        cursor.execute(_ADD_ENTRIES, params)
        (added,) = cursor.fetchone()
    terminated: list[int] = []
    if roster_import.replace:
        last_day = clock.today()
        candidates = roster_import_terminations(
            roster_import=roster_import, last_day=last_day, kept=_kept(roster_import.errors)
        ).values("id")
        candidates_sql, candidates_params = candidates.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                _TERMINATE_ENTRIES.replace("{candidates}", candidates_sql),
                [
                    last_day,
                    *candidates_params,
                    now,
                    roster_import.employer_id,
                    roster_import.confirmed_by_id,
                    roster_import.pk,
                    now,
                ],
            )
            terminated = [entry_id for (entry_id,) in cursor.fetchall()]
    return _Applied(
        added=added,
        updated=updated,
        terminated_ids=terminated,
        cut_short_ids=cut_short,
    )
