"""Benchmark: the API under load (issue #8, 4). gunicorn (2 sync workers, the test command's
settings) serves GET /api/v1/me/membership/ (a member's bearer token) and GET
/api/v1/statements/ (a finance user's, a page of 50 statements), and `wrk` in a separate process
drives each for a while: requests/s, p50 and p99. The floor, measured in the same run against the
same server (before and after, the best): a bare DRF APIView returning a constant
(`bench/urls_floor.py`). Target: each endpoint at least half the floor's throughput.

    python bench/api_load.py [--scale 0.3]

The data live in a throwaway database, `<db>_bench_api`, made from the migrated database as a
template and dropped at the end (also on failure). Needs `wrk` (apt-get install wrk)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from accounts.models import Role, User  # noqa: E402
from accounts.services import access_token_issue, role_grant  # noqa: E402
from bench.figures import Figure, figures_table  # noqa: E402
from bench.statement import throwaway_database  # noqa: E402
from ledger.models import RevenueShareAgreement  # noqa: E402
from ledger.statements import statement_generate  # noqa: E402
from memberships.models import Market, Member, Membership, MembershipStatus, Price  # noqa: E402
from partners.models import Partner  # noqa: E402

PASSWORD = "bench-api-load-password"  # noqa: S105 (a throwaway database's users)
CONNECTIONS = 8  # wrk connections (2 sync workers: a queue in front of each)
PARTNERS = 20
MONTHS = 3


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def wrk(url: str, seconds: int, token: str | None) -> Load:
    """One wrk run (one thread, CONNECTIONS connections) against `url`."""
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    pct: dict[str, float] = {}
    for pct_name, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        pct[pct_name] = _ms(value, unit)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Load(rps, pct["50"], pct["99"], total, int(bad.group(1)) if bad else 0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_data() -> tuple[str, str]:
    """A member with an active membership, a finance user, PARTNERS x MONTHS statements;
    (member token, finance token)."""
    stamp = time.time_ns()
    member_user = User.objects.create_user(
        email=f"bench-member-{stamp}@example.test", password=PASSWORD
    )
    role_grant(user=member_user, role=Role.MEMBER)
    member = Member.objects.create(user=member_user, date_of_birth=dt.date(1990, 1, 1))
    price = Price.objects.order_by("id").first()
    if price is None:
        raise RuntimeError("no price: the migrations seed the catalog")
    Membership.objects.create(
        member=member,
        price=price,
        status=MembershipStatus.ACTIVE,
        current_period_start=dt.date(2026, 1, 1),
        current_period_end=dt.date(2026, 2, 1),
    )
    finance_user = User.objects.create_user(
        email=f"bench-finance-{stamp}@example.test", password=PASSWORD
    )
    role_grant(user=finance_user, role=Role.FINANCE_STAFF)
    for p in range(PARTNERS):
        partner = Partner.objects.create(name=f"Bench API partner {p}")
        market = Market.objects.create(
            name=f"Bench API market {p}", slug=f"bench-api-{p}", partner=partner
        )
        RevenueShareAgreement.objects.create(
            partner=partner, market=market, share_bps=2000, effective_from=dt.date(2025, 1, 1)
        )
        for month in range(1, MONTHS + 1):
            statement_generate(partner=partner, period=dt.date(2025, month, 1))
    member_token = access_token_issue(email=member_user.email, password=PASSWORD).token
    finance_token = access_token_issue(email=finance_user.email, password=PASSWORD).token
    return member_token, finance_token


def database_url(name: str) -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name}"


def wait_up(url: str, server: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        if server.poll() is not None:
            raise RuntimeError("gunicorn exited")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (http)
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not answer")


def measure(*, scale: float = 1.0) -> list[Figure]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    seconds = max(int(15 * scale), 3)
    with throwaway_database("bench_api") as name:
        member_token, finance_token = make_data()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "DATABASE_URL": database_url(name), "PYTHONPATH": str(ROOT)}
        server = subprocess.Popen(
            [
                *("gunicorn", "bench.urls_floor:application", "-w", "2"),
                *("-b", f"127.0.0.1:{port}", "--log-level", "warning"),
            ],
            cwd=ROOT,
            env=env,
        )
        try:
            wait_up(f"{base}/bench/floor/", server)
            targets = {
                "floor": (f"{base}/bench/floor/", None),
                "me/membership": (f"{base}/api/v1/me/membership/", member_token),
                "statements": (f"{base}/api/v1/statements/", finance_token),
            }
            for url, token in targets.values():  # warm both workers (connections, imports)
                wrk(url, 1, token)
            results: dict[str, Load] = {}
            floor_before = wrk(targets["floor"][0], seconds, None)
            for label in ("me/membership", "statements"):
                results[label] = wrk(targets[label][0], seconds, targets[label][1])
            floor_after = wrk(targets["floor"][0], seconds, None)
        finally:
            server.terminate()
            server.wait(timeout=30)
    floor = max(floor_before, floor_after, key=lambda load: load.rps)
    say(
        f"api under load: gunicorn 2 sync workers, wrk 1 thread {CONNECTIONS} connections, "
        f"{seconds} s per run"
    )
    for label, load in (
        ("FLOOR bare DRF (before)", floor_before),
        ("FLOOR bare DRF (after)", floor_after),
        *results.items(),
    ):
        say(
            f"  {label:26s} {load.rps:8.1f} req/s  p50 {load.p50_ms:7.2f} ms  "
            f"p99 {load.p99_ms:7.2f} ms  ({load.requests} requests, {load.non_2xx} non-2xx)"
        )
    figures = []
    for label, load in results.items():
        if load.non_2xx:
            raise RuntimeError(f"{label}: {load.non_2xx} responses were not 2xx")
        figures.append(
            Figure(
                benchmark="api under load",
                measure=f"GET /api/v1/{label}/, time per request (1 / throughput)",
                seconds=1 / load.rps,
                floor="bare DRF APIView returning a constant, same server",
                floor_seconds=1 / floor.rps,
                target_ratio=2.0,  # at least half the floor's throughput
                rate=f"{load.rps:,.0f} req/s (floor {floor.rps:,.0f}), "
                f"p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms",
                notes=f"gunicorn -w 2 (sync), wrk -t1 -c{CONNECTIONS} -d{seconds}s",
                extra={
                    "rps": load.rps,
                    "p50_ms": load.p50_ms,
                    "p99_ms": load.p99_ms,
                    "floor_rps": floor.rps,
                    "floor_p50_ms": floor.p50_ms,
                    "floor_p99_ms": floor.p99_ms,
                },
            )
        )
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    print(figures_table(measure(scale=args.scale)))
