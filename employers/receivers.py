"""Connections from signals to employer services (no logic here)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.dispatch import receiver

from accounts.models import User
from employers.enrollment import enrollments_end_for_terminated_entries
from employers.models import RosterEntry
from employers.signals import roster_entries_terminated


@receiver(roster_entries_terminated, dispatch_uid="employers.enrollments_end")
def on_roster_entries_terminated(
    sender: type[RosterEntry],
    *,
    entry_ids: Sequence[int],
    actor: User | None = None,
    **kwargs: Any,
) -> None:
    enrollments_end_for_terminated_entries(entry_ids=entry_ids, actor=actor)
