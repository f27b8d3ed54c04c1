"""Run a real Celery worker (``celery -A config worker``) as a subprocess for tests that kill it.

    worker = CeleryWorkerProcess(log_dir=tmp_path, environment={...}).start()
    worker.pool_pids()        # the prefork pool's child processes
    worker.kill_pool_child()  # SIGKILL one child: Celery requeues its task (reject_on_worker_lost)
    worker.kill()             # SIGKILL the main process and its children, as a lost machine
    worker.received()         # task id -> how many times this worker received it

The worker runs in a session of its own (its process group is the worker and its pool), logs
to ``<log_dir>/<name>.log`` at INFO, and gets the test's settings through ``environment``
(``DATABASE_URL`` of the test database, ``REDIS_URL``/``CELERY_BROKER_URL``, Stripe's address,
…): it is another process, so it reads only the environment, never the test's ``settings``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

PROJECT_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 20.0
# "Task memberships.tasks.memberships_renew_due_task[<id>] received"
RECEIVED = re.compile(r"Task (?P<name>[\w.]+)\[(?P<id>[0-9a-f-]+)\] received")


class CeleryWorkerProcess:
    """One Celery worker (prefork pool of ``concurrency`` processes) on the test's broker."""

    def __init__(
        self,
        *,
        log_dir: Path,
        environment: dict[str, str],
        concurrency: int = 1,
        name: str | None = None,
    ) -> None:
        self.log_dir = Path(log_dir)
        self.environment = environment
        self.concurrency = concurrency
        self.name = name or f"crash-{uuid.uuid4().hex[:8]}"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the worker is not running")
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        return [
            sys.executable,  # the test's own interpreter, so the same virtualenv
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            str(self.concurrency),
            "--hostname",
            f"{self.name}@%h",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]

    def start(self) -> CeleryWorkerProcess:
        """Start the worker and wait until it says it is ready (connected, pool up)."""
        if self.running:
            return self
        self.log_dir.mkdir(parents=True, exist_ok=True)
        environment = {**os.environ, **self.environment, "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and celery
                self.command(),
                cwd=PROJECT_ROOT,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() takes the pool too
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"The Celery worker exited with {self._process.returncode} while starting.\n"
                    f"{self.log_tail()}"
                )
            if " ready." in self.log_text() and len(self.pool_pids()) >= self.concurrency:
                return self
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"The Celery worker did not get ready.\n{self.log_tail()}")

    def pool_pids(self) -> list[int]:
        """The pool's child processes (read from /proc)."""
        if not self.running:
            return []
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        try:
            return [int(pid) for pid in path.read_text().split()]
        except OSError:
            return []

    def kill_pool_child(self) -> int:
        """SIGKILL one pool process (the one running the task when concurrency is 1); the
        worker itself lives on and starts a new one. Returns the killed pid."""
        children = self.pool_pids()
        if not children:
            raise RuntimeError("the worker has no pool process to kill")
        os.kill(children[0], signal.SIGKILL)
        return children[0]

    def kill(self) -> None:
        """SIGKILL the worker and its pool at once (a machine lost): nothing is acknowledged,
        nothing is put back; the broker redelivers after its visibility timeout."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        """Warm shutdown (SIGTERM: running tasks finish), then SIGKILL if it hangs."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
        self.kill()

    def __enter__(self) -> CeleryWorkerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def succeeded(self, task_id: str) -> bool:
        """This worker logged the task as succeeded."""
        return f"[{task_id}] succeeded" in self.log_text()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def received(self, task_name: str | None = None) -> Counter[str]:
        """Task id -> how often this worker received it (2+ means redelivered)."""
        return Counter(
            match["id"]
            for match in RECEIVED.finditer(self.log_text())
            if task_name is None or match["name"] == task_name
        )

    def log_tail(self, lines: int = 60) -> str:
        return "Last lines of the worker log:\n" + "\n".join(self.log_text().splitlines()[-lines:])


def current_database_url() -> str:
    """The URL of the database this process's default connection uses (in a test: the test
    database pytest-django created), for a worker that must see the test's committed rows."""
    from django.db import connection

    config = connection.settings_dict
    user = quote(str(config["USER"] or ""), safe="")
    password = quote(str(config["PASSWORD"] or ""), safe="")
    credentials = f"{user}:{password}@" if password else f"{user}@" if user else ""
    host = config["HOST"] or "127.0.0.1"
    port = f":{config['PORT']}" if config["PORT"] else ""
    return f"postgres://{credentials}{host}{port}/{config['NAME']}"


def task_send(*, broker_url: str, task_name: str) -> str:
    """Queue a task by name on `broker_url`, as beat or a web process would (the test's own
    Celery app runs tasks eagerly, so it cannot be used). Returns the task id."""
    from celery import Celery

    sender = Celery("tests-sender", broker=broker_url, set_as_current=False)
    try:
        return str(sender.send_task(task_name).id)
    finally:
        sender.close()


def worker_environment(*, broker_url: str, stripe_api_base: str, **settings: str) -> dict[str, str]:
    """A worker's environment: the test database, `broker_url` as broker and cache (rate-limit
    counters, the Stripe throttle), the emulator at `stripe_api_base`; `settings` on top (names
    of environment variables, README "Configuration"). Pushes are not queued on commit: the
    test queues them, as beat would."""
    return {
        "APP_ENV": "test",
        "DATABASE_URL": current_database_url(),
        "DATABASE_CONN_MAX_AGE": "0",
        "REDIS_URL": broker_url,
        "CELERY_BROKER_URL": broker_url,
        "STRIPE_API_BASE": stripe_api_base,
        "STRIPE_API_KEY": "sk_test_emulator",
        "STRIPE_OUTBOX_WAKE_ON_COMMIT": "false",
        "EMAIL_BACKEND": "locmem",
        **settings,
    }


class CeleryWorkers:
    """Workers started with one environment (named w1, w2, …); `kill_all()` at the end."""

    def __init__(self, *, log_dir: Path, environment: dict[str, str]) -> None:
        self.log_dir = log_dir
        self.environment = environment
        self.started: list[CeleryWorkerProcess] = []

    def start(self, *, concurrency: int = 1) -> CeleryWorkerProcess:
        worker = CeleryWorkerProcess(
            log_dir=self.log_dir,
            environment=self.environment,
            concurrency=concurrency,
            name=f"w{len(self.started) + 1}",
        )
        self.started.append(worker)
        return worker.start()

    def kill_all(self) -> None:
        for worker in self.started:
            worker.kill()
