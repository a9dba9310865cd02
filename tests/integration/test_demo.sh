#!/usr/bin/env bash
# tests/integration/test_demo.sh — `make demo` as a newcomer meets it: it
# comes up from nothing, prints a login that works, serves the demo complex
# (flat 100-1101-1201 resolves), runs dpn-gatekeeper and a dpn-gatewayd whose
# flat is registered there, `scripts/demo call` completes a call through
# both (and reports a failed one), it comes up again over its own state, and
# `make demo-stop` leaves nothing running.
set -euo pipefail
cd "${DPN_ROOT:-$(dirname "$0")/../..}"
export DPN_DEMO_BIN=${DPN_BUILD:-$PWD/build/san}/bin
export DPN_DEMO_STATE; DPN_DEMO_STATE=$(mktemp -d)
chmod 0755 "$DPN_DEMO_STATE"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export DPN_DEMO_LISTEN=127.0.0.1:$port
export DPN_DEMO_DHCP_PORT; DPN_DEMO_DHCP_PORT=$(python3 -c 'import socket; s=socket.socket(type=socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
udp_port() { python3 -c 'import socket; s=socket.socket(type=socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export DPN_DEMO_SIP_PORT; DPN_DEMO_SIP_PORT=$(udp_port)
export DPN_DEMO_GW_SIP_PORT; DPN_DEMO_GW_SIP_PORT=$(udp_port)
export DPN_DEMO_NG_PORT; DPN_DEMO_NG_PORT=$(udp_port)
rtp_min=$((20000 + RANDOM % 200 * 200))
export DPN_DEMO_RTP_PORTS=$rtp_min-$((rtp_min + 199))
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

# The SIP daemons: both run, the gateway's secret stays in the state (0600,
# never printed), and the demo flat is registered at the gatekeeper from its
# first address.
for d in gatekeeper gatewayd rtpengine; do
  kill -0 "$(cat "$DPN_DEMO_STATE/run/$d.pid")" 2>/dev/null || fail "dpn-$d not running"
done
echo "$out" | grep -q "dpn-gatekeeper on 127.0.0.1:$DPN_DEMO_SIP_PORT" || fail "gatekeeper not printed"
echo "$out" | grep -q "dpn-gatewayd for 100-1101-1202 on 127.16.[0-9.]*:$DPN_DEMO_GW_SIP_PORT" \
  || fail "gatewayd not printed"
secret=$DPN_DEMO_STATE/sip/gateway-secret
[ "$(stat -c %a "$secret")" = 600 ] || fail "gateway secret not 0600"
echo "$out" | grep -qF "$(cat "$secret")" && fail "gateway secret printed"
flat=$(curl -sf -b "$jar" "$url/api/v1/numbers/100-1101-1202" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["flat"]["id"])')
reg=$(curl -sf -b "$jar" "$url/api/v1/flats/$flat/gateway" | python3 -c 'import json,sys
r=json.load(sys.stdin)["registration"]; print(r["source"] if r else "none")')
case "$reg" in 127.16.*) ;; *) fail "flat 100-1101-1202 not registered at the gatekeeper ($reg)" ;; esac
ok "dpn-gatekeeper and dpn-gatewayd run; the flat is registered from $reg"

# A call from outside to the flat rings both handsets, one answers, the
# other is cancelled, the caller hangs up; a handset number rings that one.
call=$(timeout 40 scripts/demo call 100-1101-1202) || fail "call to the flat failed: $call"
echo "$call"
for want in 'rings 2 handsets' 'answered by handset 100-1101-1202-1' \
    'handset 100-1101-1202-2 stopped ringing' 'call to 100-1101-1202 completed'; do
  echo "$call" | grep -q "$want" || fail "call output lacks '$want'"
done
call=$(timeout 40 scripts/demo call 100-1101-1202-2) || fail "call to handset 2 failed: $call"
echo "$call" | grep -q 'answered by handset 100-1101-1202-2' || fail "handset 2 did not answer: $call"
grep -q "Received command 'offer'" "$DPN_DEMO_STATE/log/rtpengine.log" \
  || fail "the call's media was not anchored at rtpengine"
ok "scripts/demo call completes a call through gatekeeper and gatewayd, media through rtpengine"

# Flat 1201 has no gateway: the call fails and says why; a non-number is
# refused before anything is sent.
call=$(timeout 40 scripts/demo call 100-1101-1201 2>&1) && fail "call without a gateway succeeded"
echo "$call" | grep -q '480' || fail "failed call does not show the 480: $call"
call=$(timeout 10 scripts/demo call 'x;1' 2>&1) && fail "a non-number was called"
echo "$call" | grep -q 'not a dpn number' || fail "no clear error for a non-number: $call"
[ -z "$(find "$DPN_DEMO_STATE" -maxdepth 1 -name 'call.*')" ] || fail "a call left its folder behind"
ok "a call to a flat without a gateway reports 480; a non-number is refused"

out=$(scripts/demo start) || fail "second start failed: $out"
echo "$out" | grep -q "login: admin / $pw" || fail "second start changed the login"
ok "a second start resumes over the kept state"

pids=$(cat "$DPN_DEMO_STATE"/run/*.pid)
scripts/demo stop >/dev/null
for p in $pids; do kill -0 "$p" 2>/dev/null && fail "pid $p still running after stop"; done
curl -s -o /dev/null "$url/healthz" && fail "still answering after stop"
python3 -c 'import socket,sys; socket.socket(type=socket.SOCK_DGRAM).bind(("127.0.0.1",int(sys.argv[1])))' \
  "$DPN_DEMO_SIP_PORT" 2>/dev/null || fail "the gatekeeper's port is still bound after stop"
[ ! -e "$DPN_DEMO_STATE/pg/data/postmaster.pid" ] \
  || fail "PostgreSQL still running after stop"
ok "demo-stop stops everything it started"
echo "$passed passed, 0 failed"
