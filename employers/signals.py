"""What the roster tells the rest of the system. Sent inside the transaction of the change.

- `roster_entries_terminated(sender=RosterEntry, entry_ids=[…], actor=User | None)`: these
  entries' `eligible_until` was set (one by one through the API, or many by an import's full
  replacement); receivers read the new date from the rows. Enrollment ends the sponsored
  memberships of those entries at the contract's rule.
"""

from __future__ import annotations

from django.dispatch import Signal

roster_entries_terminated = Signal()
