"""What memberships tell the rest of the system. Receivers call a service; they hold no logic."""

from django.dispatch import Signal

# Sent inside the transaction that ends a membership's service before its paid period ran out
# (it was canceled or expired, or a plan change replaced the period). Arguments: membership,
# last_day (datetime.date: the last day served).
membership_service_ended = Signal()
