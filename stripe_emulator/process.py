"""Run the Stripe emulator (``python -m stripe_emulator``) as a subprocess (tests, the simulation).

    emulator = EmulatorProcess(data_dir=tmp_path, rate_limit_per_second=0).start()
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": emulator.api_base})
    ...
    emulator.stop()

Keyword arguments besides the named ones are emulator settings passed as command-line flags
(``latency_ms=50`` → ``--latency-ms 50``; booleans → ``--flag``/``--no-flag``). The control calls
use the emulator's JSON control API (``/_emulator/...``) with the standard library only.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 10.0
LOG_FILE = "emulator.log"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class EmulatorProcess:
    """One emulator process on 127.0.0.1, its state in ``data_dir``."""

    def __init__(
        self,
        *,
        data_dir: Path,
        port: int | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        **faults: object,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.settings: dict[str, object] = dict(faults)
        if webhook_url is not None:
            self.settings["webhook_url"] = webhook_url
        if webhook_secret is not None:
            self.settings["webhook_secret"] = webhook_secret
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_FILE

    def command(self) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "stripe_emulator",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
        ]
        for name, value in self.settings.items():
            flag = "--" + name.replace("_", "-")
            if isinstance(value, bool):
                command.append(flag if value else "--no-" + name.replace("_", "-"))
            elif value is not None:
                command += [flag, str(value)]
        return command

    def start(self) -> EmulatorProcess:
        """Start the process and wait until it answers its health check."""
        if self._process is not None and self._process.poll() is None:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
        environment["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(PROJECT_ROOT), environment.get("PYTHONPATH")])
        )
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                self.command(),
                cwd=PROJECT_ROOT,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"The Stripe emulator exited with {self._process.returncode} while starting.\n"
                    f"{self._log_tail()}"
                )
            try:
                if self._request("GET", "/_emulator/health", timeout=1).get("ok"):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"The Stripe emulator did not answer on {self.api_base} within "
            f"{START_TIMEOUT_SECONDS:.0f} s.\n{self._log_tail()}"
        )

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL if it does not exit)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        """Stop and start again on the same port with the same data directory."""
        self.stop()
        self.start()

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- control API ------------------------------------------------------------------------

    def configure(self, **settings: object) -> dict[str, Any]:
        """Change settings of the running emulator; returns all its settings."""
        return self._request("POST", "/_emulator/config", settings)

    def config(self) -> dict[str, Any]:
        return self._request("GET", "/_emulator/config")

    def stats(self) -> dict[str, Any]:
        return self._request("GET", "/_emulator/stats")

    def reset_stats(self) -> None:
        self._request("POST", "/_emulator/stats/reset")

    def reset(self) -> None:
        """Delete every object, event, idempotent result and webhook delivery."""
        self._request("POST", "/_emulator/reset")

    def webhooks(self) -> list[dict[str, Any]]:
        """The webhook delivery log: one entry per event."""
        return list(self._request("GET", "/_emulator/webhooks")["data"])

    def resend(self, event_ids: list[str]) -> list[dict[str, Any]]:
        """Deliver these events to the configured webhook URL now, in exactly this order."""
        return list(
            self._request("POST", "/_emulator/webhooks/resend", {"event_ids": event_ids}, 60)[
                "data"
            ]
        )

    def open_dispute(
        self, charge_id: str, *, amount: int | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        """Open a dispute on a succeeded charge (the amount defaults to what is left of it);
        emits ``charge.dispute.created`` and ``charge.dispute.funds_withdrawn``."""
        body: dict[str, object] = {"charge": charge_id}
        if amount is not None:
            body["amount"] = amount
        if reason is not None:
            body["reason"] = reason
        return self._request("POST", "/_emulator/disputes", body)

    def close_dispute(self, dispute_id: str, *, status: str) -> dict[str, Any]:
        """Close an open dispute as ``won`` (funds reinstated) or ``lost``."""
        return self._request("POST", f"/_emulator/disputes/{dispute_id}/close", {"status": status})

    def objects(self, object_type: str, **filters: str) -> dict[str, Any]:
        """``{"count": n, "data": [...]}`` of ``invoices``, ``customers``, …, filtered."""
        query = urllib.parse.urlencode(filters)
        return self._request("GET", f"/_emulator/objects/{object_type}?{query}")

    def _request(
        self, method: str, path: str, body: dict[str, object] | None = None, timeout: float = 10
    ) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only
            self.api_base + path,
            data=data if method == "POST" else None,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                payload: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")
            raise RuntimeError(f"{method} {path} → HTTP {error.code}: {detail}") from None
        return payload

    def _log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "Last lines of the emulator log:\n" + "\n".join(text.splitlines()[-lines:])
