#!/usr/bin/env bash
# tests/integration/test_demo_private.sh — `make demo` from a checkout that
# the unprivileged user dpn cannot enter (a clone in root's 0700 home): the
# demo keeps what dpn needs in a place dpn owns, serves the web admin from
# the private checkout, and leaves the private folder as it was.
set -euo pipefail
cd "${DPN_ROOT:-$(dirname "$0")/../..}"
if [ "$(id -u)" != 0 ]; then
  echo "ok     skipped: only root runs the demo as dpn"; echo "1 passed, 0 failed"; exit 0
fi
export DPN_DEMO_BIN=${DPN_BUILD:-$PWD/build/san}/bin
export DPN_DEMO_HOOK; DPN_DEMO_HOOK=$(dirname "$DPN_DEMO_BIN")/lib/libdpn_dhcp.so
unset DPN_DEMO_STATE
priv=$(mktemp -d)
chmod 0700 "$priv"
mkdir "$priv/dpn"
cp -r scripts schema web dhcp-hook "$priv/dpn/"
# every port below the ephemeral range (not one bound to port 0 meanwhile)
ports=$(python3 tests/lib/demo_ports.py) || exit 1
eval "$ports"
url=http://$DPN_DEMO_LISTEN
state=""
cleanup() {
  "$priv/dpn/scripts/demo" stop >/dev/null 2>&1 || true
  case "$state" in /var/lib/dpn/demo-*) rm -rf "$state" ;; esac
  rm -rf "$priv"
}
trap cleanup EXIT
fail() { echo "not ok: $*"; exit 1; }
passed=0
ok() { echo "ok     $*"; passed=$((passed + 1)); }
# has TEXT [GREP-OPTION...] PATTERN: grep -q on TEXT through a here-string.
# Not `echo "$TEXT" | grep -q`: with pipefail that fails whenever grep has
# matched and exited before echo (which writes line by line) wrote the rest.
has() { local text=$1; shift; grep -q "$@" <<<"$text"; }

runuser -u dpn -- test -x "$priv/dpn" 2>/dev/null && fail "dpn can enter $priv: not a private folder"
out=$("$priv/dpn/scripts/demo" start 2>&1) || fail "demo start from a private checkout failed: $out"
echo "$out"
state=$(echo "$out" | sed -n 's/.*(loopback only; state in \(.*\))$/\1/p')
case "$state" in /var/lib/dpn/demo-*) ;; *) fail "state not in a place dpn owns: '$state'" ;; esac
has "$out" 'could not change directory' && fail "tools complained about the private folder"
ok "demo starts from a checkout in a 0700 folder; state in $state"

pw=$(echo "$out" | sed -n 's/.*login: admin \/ \(.*\)$/\1/p')
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
  --data "{\"username\":\"admin\",\"password\":\"$pw\"}" "$url/api/v1/session")
[ "$code" = 200 ] || fail "printed login refused (HTTP $code)"
page=$(curl -sf "$url/") || fail "web admin not served from the private checkout"
has "$page" -i '<html' || fail "web admin from the private checkout is no HTML page"
ok "the login works and the web admin is served"

[ "$(stat -c %a "$priv")" = 700 ] || fail "the private folder's mode changed"
[ ! -e "$priv/dpn/state" ] || fail "state left in the private checkout"
"$priv/dpn/scripts/demo" stop >/dev/null
curl -s -o /dev/null "$url/healthz" && fail "still answering after stop"
ok "the private folder is left as it was and demo-stop stops it"
echo "$passed passed, 0 failed"
