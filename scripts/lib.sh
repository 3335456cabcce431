# Shared by scripts/run and scripts/test. Sourced, not executed.
# shellcheck shell=bash

PYTHON=${PYTHON:-python3}
VENV=.venv
PY=$VENV/bin/python
STARTED_PIDS=()

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Install Debian packages when missing, if we may (root, or password-less sudo).
apt_install() {
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    if sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      say "Please install these Debian packages first: $*"; return 1
    fi
  fi
  say "Installing $* (apt)"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

ensure_venv() {
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    say "Watchstander needs Python 3.11 or newer (PYTHON=$PYTHON is $("$PYTHON" --version 2>&1))"
    exit 1
  }
  if [ ! -x "$PY" ]; then
    say "Creating $VENV"
    "$PYTHON" -m venv "$VENV" 2>/dev/null || { rm -rf "$VENV"; apt_install python3-venv && "$PYTHON" -m venv "$VENV"; }
  fi
  local stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    say "Installing Python packages from pyproject.toml"
    "$PY" -m pip install -q --upgrade pip
    "$PY" -m pip install -q -e '.[dev]'
    rm -f "$VENV"/.installed-* && touch "$stamp"
  fi
}

# Make sure the Redis at $1 answers; start a local one (append-only, data in var/redis) if not.
ensure_redis() {
  local url=$1
  if redis_answers "$url"; then return 0; fi
  local hostport port
  hostport=$(REDIS_CHECK_URL="$url" "$PY" -c 'import os, urllib.parse as u; p = u.urlparse(os.environ["REDIS_CHECK_URL"]); print(p.hostname or "127.0.0.1", p.port or 6379)')
  case "${hostport%% *}" in
    127.0.0.1|localhost|::1) ;;
    *) say "Redis at $url does not answer, and it is not local: start it or fix REDIS_URL"; exit 1 ;;
  esac
  port=${hostport##* }
  command -v redis-server >/dev/null || apt_install redis-server || exit 1
  mkdir -p var/redis
  say "Starting redis-server on port $port (append-only, data in var/redis)"
  redis-server --port "$port" --bind 127.0.0.1 --appendonly yes --dir "$PWD/var/redis" \
    --logfile "$PWD/var/redis/redis.log" --daemonize no &
  STARTED_PIDS+=($!)
  for _ in $(seq 50); do redis_answers "$url" && return 0; sleep 0.1; done
  say "redis-server did not come up; see var/redis/redis.log"; exit 1
}

redis_answers() {
  REDIS_CHECK_URL="$1" "$PY" -c 'import os, redis; redis.Redis.from_url(os.environ["REDIS_CHECK_URL"], socket_connect_timeout=1).ping()' 2>/dev/null
}

stop_started() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${STARTED_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
