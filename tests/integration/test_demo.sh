#!/usr/bin/env bash
# tests/integration/test_demo.sh — `make demo` as a newcomer meets it: it
# comes up from nothing, prints a login that works, serves the demo complex
# (flat 100-1101-1201 resolves), runs dpn-gatekeeper, a dpn-gatewayd for each
# demo flat registered there and two simulated handsets per flat registered
# with it (the admin's reachability shows them); `scripts/call` dials from
# outside and prints who rang, who answered, the caller ID and the RTP each
# way (a flat: one answers, the other is cancelled; a handset: only it
# rings; a flat without a gateway: 480; an unknown number: 404); it comes
# up again over its own state, and `make demo-stop` leaves nothing running.
set -euo pipefail
cd "${DPN_ROOT:-$(dirname "$0")/../..}"
export DPN_DEMO_BIN=${DPN_BUILD:-$PWD/build/san}/bin
export DPN_DEMO_STATE; DPN_DEMO_STATE=$(mktemp -d)
chmod 0755 "$DPN_DEMO_STATE"
# every port below the ephemeral range (not one bound to port 0 meanwhile)
ports=$(python3 tests/lib/demo_ports.py) || exit 1
eval "$ports"
url=http://$DPN_DEMO_LISTEN
cleanup() { scripts/demo stop >/dev/null 2>&1 || true; rm -rf "$DPN_DEMO_STATE"; }
trap cleanup EXIT
fail() { echo "not ok: $*"; exit 1; }
passed=0
ok() { echo "ok     $*"; passed=$((passed + 1)); }
# has TEXT [GREP-OPTION...] PATTERN: grep -q on TEXT through a here-string.
# Not `echo "$TEXT" | grep -q`: with pipefail that fails whenever grep has
# matched and exited before echo (which writes line by line) wrote the rest.
has() { local text=$1; shift; grep -q "$@" <<<"$text"; }

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
page=$(curl -sf "$url/") || fail "web admin not served at /"
has "$page" -i '<html' || fail "web admin at / is no HTML page"
ok "the demo complex is provisioned and the admin is served"

# A handset plugged into flat 1104's port asks Kea for an address: the hook
# enrols it and it gets one from the demo pool.
addr=$(python3 - "$DPN_DEMO_DHCP_PORT" <<'PY'
import os, sys
sys.path.insert(0, os.path.join(os.environ.get('DPN_ROOT', '.'), 'tests', 'lib'))
import dhcp
relay = dhcp.Relay(int(sys.argv[1]), timeout=5)
ack = relay.dora(b'1101-1104', '02:00:00:de:00:01')
print(ack.yiaddr if ack and ack.type == dhcp.ACK else 'none')
PY
)
case "$addr" in 127.16.*) ;; *) fail "no DHCP address from the demo Kea (got $addr)" ;; esac
hs1=$(curl -sf -b "$jar" "$url/api/v1/numbers/100-1101-1104-1") \
  || fail "the enrolled handset 100-1101-1104-1 not found"
has "$hs1" "$addr" || fail "the enrolled handset 100-1101-1104-1 does not show $addr"
ok "Kea with the hook serves the demo pool: a new handset gets $addr"

# The SIP daemons: the gatekeeper, a gatewayd and the handsets of each demo
# flat run; the gateway secrets and handset passwords stay in the state
# (0600, never printed); each flat is registered at the gatekeeper from its
# own block, and its two handsets with its gatewayd from their own addresses.
flats="100-1101-1201 100-1101-1202 100-1101-1102"
for d in gatekeeper rtpengine $(for f in $flats; do echo "gatewayd-$f handsets-$f"; done); do
  kill -0 "$(cat "$DPN_DEMO_STATE/run/$d.pid")" 2>/dev/null || fail "$d not running"
done
has "$out" "dpn-gatekeeper on 127.0.0.1:$DPN_DEMO_SIP_PORT" || fail "gatekeeper not printed"
has "$out" 'scripts/call 100-1101-1201 ' || fail "how to call not printed"
sources=""
for f in $flats; do
  has "$out" "dpn-gatewayd for $f on 127.16.[0-9.]*:$DPN_DEMO_GW_SIP_PORT" \
    || fail "gatewayd of $f not printed"
  for secret in "$DPN_DEMO_STATE/sip/$f/gateway-secret" "$DPN_DEMO_STATE/sip/$f/ua"; do
    [ "$(stat -c %a "$secret")" = 600 ] || fail "$secret not 0600"
  done
  has "$out" -F "$(cat "$DPN_DEMO_STATE/sip/$f/gateway-secret")" && fail "gateway secret printed"
  id=$(curl -sf -b "$jar" "$url/api/v1/numbers/$f" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["flat"]["id"])')
  reg=$(curl -sf -b "$jar" "$url/api/v1/flats/$id/gateway" | python3 -c 'import json,sys
r=json.load(sys.stdin)["registration"]; print(r["source"] if r else "none")')
  case "$reg" in 127.16.*) ;; *) fail "flat $f not registered at the gatekeeper ($reg)" ;; esac
  case " $sources " in *" ${reg%:*} "*) fail "two flats registered from ${reg%:*}" ;; esac
  sources="$sources ${reg%:*}"
  # what the admin's flat page shows: both handsets registered, each from its address
  for _ in $(seq 50); do
    n=$(curl -sf -b "$jar" "$url/api/v1/flats/$id/reachability" | python3 -c 'import json,sys
print(sum(1 for h in json.load(sys.stdin)["handsets"]
          if h["registered"] and h["address"] and h["contact"].find(h["address"]) > 0))')
    [ "$n" = 2 ] && break
    sleep 0.2
  done
  [ "$n" = 2 ] || fail "the admin shows $n registered handsets of $f, not 2"
done
ok "gatekeeper, 3 gatewayds (each its own block) and 6 handsets registered; the admin shows them"

# rtp_counts OUTPUT: "caller->handset sent received handset->caller sent received"
rtp_counts() { echo "$1" | sed -n 's/.*caller -> handset \([0-9]*\) sent, \([0-9]*\) received; handset -> caller \([0-9]*\) sent, \([0-9]*\) received.*/\1 \2 \3 \4/p'; }

# A call from outside to a flat rings both handsets, handset 1 answers, 2 is
# cancelled, RTP flows both ways, the caller hangs up.
call=$(timeout 40 scripts/call 100-1101-1201) || fail "call to the flat failed: $call"
echo "$call"
for want in 'flat 100-1101-1201 rings 2 handsets' 'rang: 100-1101-1201-1, 100-1101-1201-2' \
    'answered as <sip:100-1101-1201-1@127.16.' 'answered by handset 100-1101-1201-1' \
    'handset 100-1101-1201-2 stopped ringing: CANCEL, Reason SIP;cause=200;text="Call completed elsewhere"' \
    'caller ID the handset saw: ' 'BYE answered 200 OK' 'call to 100-1101-1201 completed' \
    'call record (admin, flat page): outside -> 100-1101-1201, answered by 100-1101-1201-1, ' \
    ', ended by caller'; do
  has "$call" -F "$want" || fail "call output lacks '$want'"
done
read -r cs hr hs cr <<<"$(rtp_counts "$call")"
for n in "${cs:-0}" "${hr:-0}" "${hs:-0}" "${cr:-0}"; do
  [ "$n" -ge 100 ] || fail "3 s of RTP each way not counted (sent/received: $cs $hr $hs $cr)"
done
grep -q "Received command 'offer'" "$DPN_DEMO_STATE/log/rtpengine.log" \
  || fail "the call's media was not anchored at rtpengine"
has "$call" 'RTP path: caller 127.0.0.1:[0-9]* -> 127.0.0.1:[0-9]* .*; handset 127.16.[0-9.:]* -> 127.0.0.2:' \
  || fail "the RTP did not go through rtpengine's two sides: $call"
ok "a flat call: both ring, one answers, the other is cancelled, RTP $cs/$hr and $hs/$cr each way through rtpengine"

# The admin's flat page, in Chromium, shows the registrations and that call.
DPN_WEB_URL=$url DPN_ADMIN_USER=admin DPN_ADMIN_PASSWORD=$pw DPN_DEMO_FLAT=100-1101-1201 \
  DPN_DEMO_ANSWERED=100-1101-1201-1 timeout -k 5 60 node tests/web/demo_flat.mjs \
  || fail "the admin's flat page does not show the handsets registered and the call"
ok "the admin's flat page shows both handsets registered and the call"

# Junk at handset 2 first, from outside (dropped unread) and from its
# gateway's address (unreadable, ignored): it keeps working.
hs=$(sed -n 's/.*"contact": "\([0-9.:]*\)".*"handset": "100-1101-1202-2".*/\1/;T;p;q' \
  "$DPN_DEMO_STATE/log/handsets-100-1101-1202.events")
[ -n "$hs" ] || fail "no registered contact of 100-1101-1202-2 in the events"
gw=$(echo "$out" | sed -n 's/.*dpn-gatewayd for 100-1101-1202 on \([0-9.]*\):.*/\1/p')
python3 - "$hs" "$gw" <<'PY'
import os, socket, sys
host, port = sys.argv[1].split(':')
for src in ('127.0.0.1', sys.argv[2]):
    s = socket.socket(type=socket.SOCK_DGRAM)
    s.bind((src, 0))
    for junk in (os.urandom(300), b'INVITE sip:x SIP/2.0\r\nCall-ID: 1\r\nCSeq: x\r\n\r\n',
                 b'SIP/2.0 200 OK\r\n\r\n', b'BYE sip:x SIP/2.0\r\nCall-ID: 9\r\nCSeq: 1 BYE\r\n\r\n',
                 b'SIP/2.0 99999999999999999999 X\r\nVia: a\r\nFrom: b\r\nTo: c\r\nCall-ID: 1\r\nCSeq: 1 REGISTER\r\n\r\n',
                 b'X' * 60000):
        s.sendto(junk, (host, int(port)))
PY
call=$(timeout 40 make -s call N=100-1101-1202-2) || fail "call to handset 2 failed: $call"
echo "$call"
has "$call" 'rang: 100-1101-1202-2$' || fail "not only handset 2 rang: $call"
has "$call" 'answered by handset 100-1101-1202-2' || fail "handset 2 did not answer: $call"
has "$call" 'stopped ringing' && fail "a handset call cancelled another: $call"
kill -0 "$(cat "$DPN_DEMO_STATE/run/handsets-100-1101-1202.pid")" || fail "junk killed the handsets"
grep -q "\"event\": \"dropped\"" "$DPN_DEMO_STATE/log/handsets-100-1101-1202.events" || fail "junk from outside the gateway not dropped"
ok "make call N=<handset> rings only that handset (after junk sent to it)"

# Flat 1203 has no gateway: 480; an unknown number: the gatekeeper's 404; a
# non-number is refused before anything is sent.
# (without the DPN_DEMO_* ports: the call finds them in the demo's state)
call=$(env -u DPN_DEMO_LISTEN -u DPN_DEMO_SIP_PORT timeout 40 scripts/call 100-1101-1203 2>&1) \
  && fail "call without a gateway succeeded"
echo "$call"
has "$call" 'the call failed: SIP/2.0 480' || fail "failed call does not show the 480: $call"
call=$(timeout 40 scripts/call 100-1101-1299 2>&1) && fail "call to an unknown number succeeded"
echo "$call"
has "$call" 'the call failed: SIP/2.0 404 Not Found (no such number here)' || fail "unknown number does not show the 404: $call"
call=$(timeout 10 scripts/call 'x;1' 2>&1) && fail "a non-number was called"
has "$call" 'not a dpn number' || fail "no clear error for a non-number: $call"
ok "no gateway reports 480, an unknown number 404; a non-number is refused"

out=$(scripts/demo start) || fail "second start failed: $out"
has "$out" "login: admin / $pw" || fail "second start changed the login"
ok "a second start resumes over the kept state"

pids=$(cat "$DPN_DEMO_STATE"/run/*.pid)
[ "$(echo "$pids" | wc -w)" = 10 ] || fail "expected 10 pid files, got: $(ls "$DPN_DEMO_STATE/run")"
scripts/demo stop >/dev/null
for p in $pids; do kill -0 "$p" 2>/dev/null && fail "pid $p still running after stop"; done
ls "$DPN_DEMO_STATE"/run/*.pid >/dev/null 2>&1 && fail "pid files left after stop"
curl -s -o /dev/null "$url/healthz" && fail "still answering after stop"
python3 -c 'import socket,sys; socket.socket(type=socket.SOCK_DGRAM).bind(("127.0.0.1",int(sys.argv[1])))' \
  "$DPN_DEMO_SIP_PORT" 2>/dev/null || fail "the gatekeeper's port is still bound after stop"
[ ! -e "$DPN_DEMO_STATE/pg/data/postmaster.pid" ] \
  || fail "PostgreSQL still running after stop"
ok "demo-stop stops everything it started"
echo "$passed passed, 0 failed"
