"""The "worker kill" fault: a day's Stripe push starts in a separate worker process
(`manage.py simulation_push_worker`, the real pusher under the simulated day's clock), which is
killed with SIGKILL at a seeded random moment once it has begun. Whatever it had claimed stays
leased; the simulation's own pusher takes those commands over when their lease expires (a few
seconds, see simulation/environment.py) and finishes them with the same idempotency keys.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

from billing.models import StripeCommand, StripeCommandStatus
from simulation.environment import database_url

READY = "pushing"
START_TIMEOUT_SECONDS = 60.0


def push_worker_kill(*, day: dt.date, rng: random.Random, stripe_api_base: str) -> int:
    """Start a push worker for `day`, SIGKILL it 20-400 ms after it starts pushing; returns how
    many commands it left leased (in progress)."""
    environment = {
        **os.environ,
        "SIMULATION_STRIPE_API_BASE": stripe_api_base,
        "DATABASE_URL": database_url(),
    }
    manage = Path(settings.BASE_DIR) / "manage.py"
    worker = subprocess.Popen(  # noqa: S603  (our own interpreter and manage.py)
        [sys.executable, str(manage), "simulation_push_worker", "--as-of", day.isoformat()],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert worker.stdout is not None  # noqa: S101  (stdout=PIPE)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            line = worker.stdout.readline()
            if not line or line.strip() == READY:
                break
        time.sleep(rng.uniform(0.02, 0.4))
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    return StripeCommand.objects.filter(status=StripeCommandStatus.IN_PROGRESS).count()
