#!/usr/bin/env bash
# bench/daemon_mem.sh — what the daemon skeleton costs in memory: starts
# bench/daemon_min (release build) without and with the metrics endpoint,
# scrapes /metrics once in the second case, and prints Private_Dirty and
# Rss from /proc/PID/smaps_rollup. Loopback only; stops what it starts by
# PID.
#
#   make build/rel/bench/daemon_min && bench/daemon_mem.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/rel/bench/daemon_min
[ -x "$bin" ] || { echo "build it first: make $bin" >&2; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

measure() {
  local what=$1; shift
  "$bin" "$@" 2>/dev/null &
  local pid=$!
  sleep 0.5
  if [ -n "${SCRAPE:-}" ]; then
    curl -sf "http://127.0.0.1:$port/metrics" >/dev/null
    sleep 0.2
  fi
  awk -v w="$what" '/^Rss:/ {r=$2} /^Private_Dirty:/ {p=$2}
    END {printf "%-34s Private_Dirty %5d kB   Rss %5d kB\n", w, p, r}' \
    "/proc/$pid/smaps_rollup"
  kill -TERM "$pid"
  wait "$pid" || true
}

uptime
measure "skeleton, metrics off"
SCRAPE=1 measure "skeleton, metrics on, one scrape" --metrics-listen "127.0.0.1:$port"
