"""Benchmark: a 100,000-row roster CSV imported end to end (upload, validation, confirmation,
apply) against a floor measured in the same run: PostgreSQL COPY of the same file into a table
shaped like the roster (same columns, indexes, constraints and foreign key).

    python bench/roster_import.py [--rows 100000]

Needs the same environment as the app (DATABASE_URL of a migrated database, ...); see
bench/README.md. Everything it writes is removed at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from celery.signals import task_postrun, task_prerun  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from accounts.models import User  # noqa: E402
from bench.figures import Figure, figures_table  # noqa: E402
from config.celery import app  # noqa: E402
from employers.imports import roster_import_confirm, roster_import_create  # noqa: E402
from employers.models import Employer, RosterImport, RosterImportStatus  # noqa: E402

FLOOR_TABLE = "bench_roster_copy_floor"


def roster_csv(rows: int) -> bytes:
    lines = ["external_id,full_name,work_email,date_of_birth,eligible_from,eligible_until"]
    for n in range(rows):
        birth = dt.date(1960, 1, 1) + dt.timedelta(days=n % 15000)
        until = "" if n % 10 else "2030-12-31"
        lines.append(
            f"E{n:07d},Employee Number {n},employee{n}@bench-employer.example,"
            f"{birth.isoformat()},2024-01-01,{until}"
        )
    return ("\n".join(lines) + "\n").encode()


def copy_floor(content: bytes, employer_id: int) -> float:
    """Seconds PostgreSQL takes to COPY the file into a roster-shaped table and commit."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {FLOOR_TABLE}")
        cursor.execute(f"CREATE TABLE {FLOOR_TABLE} (LIKE employers_rosterentry INCLUDING ALL)")
        cursor.execute(
            f"ALTER TABLE {FLOOR_TABLE} ALTER employer_id SET DEFAULT {int(employer_id)},"
            " ALTER created_at SET DEFAULT now(), ALTER updated_at SET DEFAULT now()"
        )
        # LIKE copies columns, defaults, indexes and checks but not foreign keys: the roster's
        # one (to its employer, checked at commit as Django declares it) is added by hand.
        cursor.execute(
            f"ALTER TABLE {FLOOR_TABLE} ADD FOREIGN KEY (employer_id)"
            " REFERENCES employers_employer (id) DEFERRABLE INITIALLY DEFERRED"
        )
    started = time.perf_counter()
    copy_sql = (
        f"COPY {FLOOR_TABLE} (external_id, full_name, work_email, date_of_birth,"
        " eligible_from, eligible_until) FROM STDIN (FORMAT csv, HEADER true)"
    )
    with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(copy_sql) as copy:
        copy.write(content)
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {FLOOR_TABLE}")
    return elapsed


@dataclass
class Timings:
    upload: float = 0.0  # request to stored (the file scanned and saved)
    validate: float = 0.0  # the validation task: queued → preview
    apply: float = 0.0  # confirmation and the apply task: preview → applied


_task_started: dict[str, float] = {}
_task_seconds: dict[str, float] = {}


@task_prerun.connect
def _task_start(task_id: str, **_: Any) -> None:
    _task_started[task_id] = time.perf_counter()


@task_postrun.connect
def _task_end(task_id: str, task: Any, **_: Any) -> None:
    _task_seconds[task.name] = time.perf_counter() - _task_started.pop(task_id)


def import_once(employer: Employer, actor: User, content: bytes) -> tuple[RosterImport, Timings]:
    """One import, upload to applied; the tasks run in process, right after each commit."""
    timings = Timings()
    started = time.perf_counter()
    with transaction.atomic():
        created = roster_import_create(
            employer=employer,
            uploaded_by=actor,
            file_name="bench.csv",
            content=content,
            replace=False,
        )
    timings.validate = _task_seconds.pop("employers.tasks.roster_import_validate_task")
    timings.upload = time.perf_counter() - started - timings.validate
    started = time.perf_counter()
    with transaction.atomic():
        roster_import_confirm(
            roster_import=RosterImport.objects.get(pk=created.pk),
            actor=actor,
            valid_rows_only=False,
        )
    timings.apply = time.perf_counter() - started
    result = RosterImport.objects.defer("content", "errors").get(pk=created.pk)
    return result, timings


def pg_version() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return str(cursor.fetchone()[0])


def cleanup(employer_id: int, user_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM employers_rosterchange WHERE employer_id = %s", [employer_id])
        cursor.execute(
            "DELETE FROM employers_rosterimportrow WHERE roster_import_id IN"
            " (SELECT id FROM employers_rosterimport WHERE employer_id = %s)",
            [employer_id],
        )
        cursor.execute("DELETE FROM employers_rosterentry WHERE employer_id = %s", [employer_id])
        cursor.execute("DELETE FROM employers_rosterimport WHERE employer_id = %s", [employer_id])
        cursor.execute("DELETE FROM employers_employer WHERE id = %s", [employer_id])
    User.objects.filter(pk=user_id).delete()


def say(text: str) -> None:
    sys.stdout.write(text + "\n")


def measure(*, scale: float = 1.0) -> list[Figure]:
    """The import of `100,000 x scale` rows, new and again (a no-op), each against the floor."""
    rows = max(int(100_000 * scale), 100)
    app.conf.task_always_eager = True  # the validation and apply tasks run in this process
    app.conf.task_eager_propagates = True

    content = roster_csv(rows)
    stamp = time.time_ns()
    employer = Employer.objects.create(name="Bench employer", billing_email="bench@example.test")
    actor = User.objects.create_user(email=f"bench-{stamp}@example.test", password=None)
    try:
        floor_before = copy_floor(content, employer.pk)
        first, new = import_once(employer, actor, content)
        again, same = import_once(employer, actor, content)
        floor_after = copy_floor(content, employer.pk)
    finally:
        cleanup(employer.pk, actor.pk)

    if first.status != RosterImportStatus.APPLIED or first.to_add != rows:
        raise RuntimeError(f"the import did not apply every row: {first.status} {first.failure}")
    if again.unchanged != rows:
        raise RuntimeError(f"re-importing changed rows: {again.unchanged} of {rows} unchanged")
    floor = min(floor_before, floor_after)
    say(f"roster import of {rows} rows ({len(content) / 1e6:.1f} MB), PostgreSQL {pg_version()}")
    say(
        f"  FLOOR: COPY of the file into a roster-shaped table   {floor:6.2f} s  (best of "
        f"{floor_before:.2f}, {floor_after:.2f})"
    )
    for label, timing in (("new roster (all rows added)", new), ("same file again (no-op)", same)):
        core = timing.validate + timing.apply
        whole = core + timing.upload
        say(f"  {label}:")
        say(f"    upload (scan + store)        {timing.upload:6.2f} s")
        say(f"    validation (queued→preview)  {timing.validate:6.2f} s")
        say(f"    confirm + apply              {timing.apply:6.2f} s")
        say(f"    validate + apply             {core:6.2f} s = {core / floor:4.1f}x floor")
        say(f"    upload + validate + apply    {whole:6.2f} s = {whole / floor:4.1f}x floor")
    floor_name = "COPY of the file into a roster-shaped table"
    return [
        Figure(
            benchmark="roster import",
            measure=f"{rows:,} rows, validate + apply",
            seconds=new.validate + new.apply,
            floor=floor_name,
            floor_seconds=floor,
            target_ratio=5.0,
            rate=f"{rows / (new.validate + new.apply):,.0f} rows/s",
        ),
        Figure(
            benchmark="roster import",
            measure=f"{rows:,} rows again (no-op), validate + apply",
            seconds=same.validate + same.apply,
            floor=floor_name,
            floor_seconds=floor,
            target_ratio=None,
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    rows = parser.parse_args().rows
    figures = measure(scale=rows / 100_000)
    print(figures_table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
