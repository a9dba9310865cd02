#!/usr/bin/env bash
# tests/integration/test_install.sh — `make install` honours PREFIX and
# DESTDIR: the programs, schema, web admin, man pages, Kea hook and its config
# generator, the SIP daemons' example configs and systemd units land under
# DESTDIR/PREFIX, and nothing lands elsewhere.
set -euo pipefail
cd "${DPN_ROOT:-$(dirname "$0")/../..}"
san=0; case "${DPN_BUILD:-}" in */build/san) san=1 ;; esac
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
fail() { echo "not ok: $*"; exit 1; }

make -s --no-print-directory SANITIZE=$san install DESTDIR="$dest" PREFIX=/opt/dpn >/dev/null
echo "installed files:"; (cd "$dest" && find . -type f | sort | sed 's/^/  /')

[ -x "$dest/opt/dpn/sbin/dpn-mgmtd" ] || fail "dpn-mgmtd not in PREFIX/sbin"
ls "$dest"/opt/dpn/share/dpn/schema/001_*.sql >/dev/null || fail "schema not installed"
[ -f "$dest/opt/dpn/share/dpn/web/index.html" ] || fail "web admin not installed"
[ -f "$dest/opt/dpn/share/man/man8/dpn-mgmtd.8" ] || fail "man page not installed"
find "$dest" -name 'libdpn_dhcp.so' | grep -q . || fail "Kea hook not installed"
# The Kea config generator: on PATH in PREFIX/sbin, runs from there, and
# names the installed hook by default.
kc="$dest/opt/dpn/sbin/dpn-kea-config"
[ -L "$kc" ] && [ -x "$kc" ] || fail "dpn-kea-config not in PREFIX/sbin"
"$kc" --help >/dev/null || fail "installed dpn-kea-config does not run"
grep -q '^INSTALLED_HOOK = "/opt/dpn/lib/kea/hooks/libdpn_dhcp.so"$' \
  "$dest/opt/dpn/share/dpn/dhcp-hook/dpn-kea-config" \
  || fail "dpn-kea-config does not default to the installed hook"
# dpn-gatekeeper: program, man page, example config, systemd unit naming
# the installed program; the example passes -n.
[ -x "$dest/opt/dpn/sbin/dpn-gatekeeper" ] || fail "dpn-gatekeeper not in PREFIX/sbin"
[ -f "$dest/opt/dpn/share/man/man8/dpn-gatekeeper.8" ] || fail "gatekeeper man page not installed"
unit="$dest/opt/dpn/lib/systemd/system/dpn-gatekeeper.service"
grep -q '^ExecStart=/opt/dpn/sbin/dpn-gatekeeper -f /etc/dpn/gatekeeper.conf' "$unit" \
  || fail "systemd unit missing or not naming PREFIX/sbin/dpn-gatekeeper"
! grep -q '@' "$unit" || fail "systemd unit has an unfilled @PLACEHOLDER@"
"$dest/opt/dpn/sbin/dpn-gatekeeper" -n -f "$dest/opt/dpn/share/dpn/examples/gatekeeper.conf" \
  >/dev/null 2>&1 || fail "the example gatekeeper.conf does not pass -n"
# dpn-gatewayd: man page, example config (which -n accepts once its secret
# file exists), systemd unit naming the installed program.
[ -x "$dest/opt/dpn/sbin/dpn-gatewayd" ] || fail "dpn-gatewayd not in PREFIX/sbin"
[ -f "$dest/opt/dpn/share/man/man8/dpn-gatewayd.8" ] || fail "gatewayd man page not installed"
unit="$dest/opt/dpn/lib/systemd/system/dpn-gatewayd.service"
grep -q '^ExecStart=/opt/dpn/sbin/dpn-gatewayd -f /etc/dpn/gatewayd.conf$' "$unit" \
  || fail "gatewayd unit does not start the installed program"
! grep -q @ "$unit" || fail "gatewayd unit has an unfilled @PLACEHOLDER@"
if command -v systemd-analyze >/dev/null; then
  # Every complaint but the program's absence from /opt (it is in DESTDIR).
  bad=$(systemd-analyze verify --man=no "$unit" 2>&1 | grep -v 'is not executable' || true)
  [ -z "$bad" ] || fail "gatewayd unit does not verify: $bad"
fi
ex="$dest/opt/dpn/share/dpn/examples/gatewayd.conf"
[ -f "$ex" ] || fail "gatewayd example config not installed"
sed "s|/etc/dpn/gatewayd.secret|$dest/secret|" "$ex" > "$dest/gw.conf"
echo s3cret > "$dest/secret"
"$dest/opt/dpn/sbin/dpn-gatewayd" -n -f "$dest/gw.conf" >/dev/null \
  || fail "the example config does not pass -n"
rm -f "$dest/gw.conf" "$dest/secret"
outside=$(cd "$dest" && find . -mindepth 1 -maxdepth 1 ! -name opt)
[ -z "$outside" ] || fail "installed outside PREFIX: $outside"
# The man page is well-formed enough for man(1) to render.
if command -v groff >/dev/null; then
  for m in dpn-mgmtd dpn-gatekeeper dpn-gatewayd; do
    out=$(groff -man -Tutf8 -ww "$dest/opt/dpn/share/man/man8/$m.8" 2>&1 >/dev/null) \
      && [ -z "$out" ] || fail "man page $m.8 does not render cleanly: $out"
  done
fi
echo "1 passed, 0 failed"
