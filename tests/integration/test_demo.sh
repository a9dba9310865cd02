#!/usr/bin/env bash
# tests/integration/test_demo.sh — `make demo` as a newcomer meets it: it
# comes up from nothing, prints a login that works, serves the demo complex
# (flat 100-1101-1201 resolves), comes up again over its own state, and
# `make demo-stop` leaves nothing running.
set -euo pipefail
cd "${DPN_ROOT:-$(dirname "$0")/../..}"
export DPN_DEMO_BIN=${DPN_BUILD:-$PWD/build/san}/bin
export DPN_DEMO_STATE; DPN_DEMO_STATE=$(mktemp -d)
chmod 0755 "$DPN_DEMO_STATE"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export DPN_DEMO_LISTEN=127.0.0.1:$port
export DPN_DEMO_DHCP_PORT; DPN_DEMO_DHCP_PORT=$(python3 -c 'import socket; s=socket.socket(type=socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url=http://$DPN_DEMO_LISTEN
cleanup() { scripts/demo stop >/dev/null 2>&1 || true; rm -rf "$DPN_DEMO_STATE"; }
trap cleanup EXIT
fail() { echo "not ok: $*"; exit 1; }
passed=0
ok() { echo "ok     $*"; passed=$((passed + 1)); }

out=$(scripts/demo start) || fail "demo start failed: $out"
echo "$out"
pw=$(echo "$out" | sed -n 's/.*login: admin \/ \(.*\)$/\1/p')
[ -n "$pw" ] || fail "no admin login printed"
ok "demo starts from nothing and prints the admin login"

jar=$DPN_DEMO_STATE/cookies
code=$(curl -s -o /dev/null -w '%{http_code}' -c "$jar" -H 'Content-Type: application/json' \
  --data "{\"username\":\"admin\",\"password\":\"$pw\"}" "$url/api/v1/session")
[ "$code" = 200 ] || fail "printed login refused (HTTP $code)"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
  --data "{\"username\":\"admin\",\"password\":\"wrong-$pw\"}" "$url/api/v1/session")
[ "$code" = 401 ] || fail "wrong password not refused (HTTP $code)"
ok "the printed login works, a wrong one is refused"

for n in 100-1101-1201 10011011202 100-1101-1203; do
  curl -sf -b "$jar" "$url/api/v1/numbers/$n" >/dev/null || fail "demo flat $n not found"
done
curl -sf "$url/" | grep -qi '<html' || fail "web admin not served at /"
ok "the demo complex is provisioned and the admin is served"

# A handset plugged into flat 1201's port asks Kea for an address: the hook
# enrols it and it gets one from the demo pool.
addr=$(python3 - "$DPN_DEMO_DHCP_PORT" <<'PY'
import os, sys
sys.path.insert(0, os.path.join(os.environ.get('DPN_ROOT', '.'), 'tests', 'lib'))
import dhcp
relay = dhcp.Relay(int(sys.argv[1]), timeout=5)
ack = relay.dora(b'1101-1201', '02:00:00:de:00:01')
print(ack.yiaddr if ack and ack.type == dhcp.ACK else 'none')
PY
)
case "$addr" in 127.16.*) ;; *) fail "no DHCP address from the demo Kea (got $addr)" ;; esac
curl -sf -b "$jar" "$url/api/v1/numbers/100-1101-1201-1" | grep -q "$addr" \
  || fail "the enrolled handset 100-1101-1201-1 does not show $addr"
ok "Kea with the hook serves the demo pool: a new handset gets $addr"

out=$(scripts/demo start) || fail "second start failed: $out"
echo "$out" | grep -q "login: admin / $pw" || fail "second start changed the login"
ok "a second start resumes over the kept state"

pids=$(cat "$DPN_DEMO_STATE"/run/*.pid)
scripts/demo stop >/dev/null
for p in $pids; do kill -0 "$p" 2>/dev/null && fail "pid $p still running after stop"; done
curl -s -o /dev/null "$url/healthz" && fail "still answering after stop"
[ ! -e "$DPN_DEMO_STATE/pg/data/postmaster.pid" ] \
  || fail "PostgreSQL still running after stop"
ok "demo-stop stops everything it started"
echo "$passed passed, 0 failed"
