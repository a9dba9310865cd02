#!/usr/bin/env bash
# bench/broker_sql.sh — SQL-level throughput of the broker functions with
# pgbench against a throwaway PostgreSQL cluster (unix socket only, removed
# afterwards). Bounded: every run has a fixed transaction count.
#
#   bench/broker_sql.sh [--quick]
#
# Sites use block_size 8, max_block_size 10 (a flat of a gateway and four
# handsets fits its first block). Runs, each on a fresh site:
#   new     broker_allocate of a new block (one gateway each) at 1, 8, 64 clients
#   repeat  broker_allocate of gateways that have their block (idempotent path)
#   storm   power cut: 1,000 gateways allocate and 4,000 handsets enrol, all
#           interleaved, 64 clients; wall time of the whole storm
#   serial  the storm's operations in one statement (no round trips)
#   frag    new blocks in a /16 pool of 7,000 blocks where every other one was
#           freed (the gap search at scale), 64 clients
# Prints one line per run: clients, transactions, tps, p50 and p99 latency.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)}
quick=0; [ "${1:-}" = --quick ] && quick=1
N=$(( quick ? 500 : 4000 ))           # transactions per "new" run

work=$(mktemp -d /tmp/dpn-bench-XXXXXX); chmod 755 "$work"
trap 'scripts/pgcluster stop "$work/pg" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
scripts/pgcluster init "$work/pg" >/dev/null
scripts/pgcluster start "$work/pg" >/dev/null
conn=$(scripts/pgcluster conninfo "$work/pg")
mgmtd=build/rel/bin/dpn-mgmtd
[ -x "$mgmtd" ] || make -s "$mgmtd"
"$mgmtd" migrate --db "$conn" --schema-dir schema >/dev/null
sql() { scripts/pgcluster psql "$work/pg" -tA -c "$1"; }

# A site numbered $1 with $2 flats in pool $3, a gateway per flat with a known
# MAC; prints nothing. Gateway ids of the site are returned by gw_range.
make_site() {
  sql "
  WITH s AS (INSERT INTO dpn.sites (number, name, block_size, max_block_size, w_flat)
             VALUES ($1, 'bench', 8, 10, 6) RETURNING id),
       p AS (INSERT INTO dpn.pools (site_id, cidr) SELECT id, '$3' FROM s),
       b AS (INSERT INTO dpn.buildings (site_id, number) SELECT id, 1 FROM s RETURNING id)
  INSERT INTO dpn.flats (building_id, number) SELECT b.id, g FROM b, generate_series(1, $2) g;
  INSERT INTO dpn.gateways (flat_id, username, secret_hash, mac)
  SELECT f.id, 'gw' || f.id, sha256(f.id::text::bytea),
         ('02:00:' || regexp_replace(lpad(to_hex(f.id), 8, '0'), '(..)(?!$)', '\1:', 'g'))::macaddr
    FROM dpn.flats f JOIN dpn.sites s ON s.id = f.site_id WHERE s.number = $1;" >/dev/null
}
gw_min() { sql "SELECT min(g.id) FROM dpn.gateways g JOIN dpn.sites s ON s.id = g.site_id WHERE s.number = $1"; }

# pgbench with logging; prints "clients txns tps p50 p99" (latencies in ms).
bench() {  # name clients txns-per-client script
  local name=$1 c=$2 t=$3 script=$4 out
  rm -f "$work"/log.*
  out=$(cd "$work" && "$PGBIN/pgbench" -h "$work/pg" -U dpn -n -c "$c" -j 2 -t "$t" \
        -f "$script" -l --log-prefix=log dpn 2>&1) || { echo "$out" >&2; return 1; }
  local tps; tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -n1)
  cat "$work"/log.* | awk '{print $3}' | sort -n | awk -v name="$name" -v c="$c" -v tps="$tps" '
    { v[NR] = $1 } END {
      p50 = v[int(NR * 0.50) > 0 ? int(NR * 0.50) : 1];
      p99 = v[int(NR * 0.99) > 0 ? int(NR * 0.99) : 1];
      printf "%-7s clients=%-3d txns=%-6d tps=%-8.0f p50=%.2fms p99=%.2fms\n",
             name, c, NR, tps, p50 / 1000, p99 / 1000 }'
}

site=100
for c in 1 8 64; do
  site=$((site + 1))
  make_site $site $N "10.$site.0.0/16"
  first=$(gw_min $site)
  sql "CREATE SEQUENCE IF NOT EXISTS bench_seq; SELECT setval('bench_seq', $first, false)" >/dev/null
  cat >"$work/new.sql" <<'SQL'
SELECT dpn.broker_allocate(g.id, g.mac, '{}') FROM dpn.gateways g WHERE g.id = (SELECT nextval('bench_seq'));
SQL
  bench new "$c" $(( N / c )) "$work/new.sql"
done

# The idempotent path: the 64-client run's gateways ask again at random.
cat >"$work/repeat.sql" <<SQL
\set g random($first, $((first + N - 1)))
SELECT dpn.broker_allocate(g.id, g.mac, '{}') FROM dpn.gateways g WHERE g.id = :g;
SQL
bench repeat 64 $(( N / 64 )) "$work/repeat.sql"

# Power cut: 1,000 flats; n = 0..4999: n % 5 = 0 the gateway allocates,
# else a handset of flat n / 5 is enrolled by circuit-id.
site=$((site + 1)); flats=$(( quick ? 200 : 1000 ))
make_site $site $flats "10.$site.0.0/16"
first=$(gw_min $site); sid=$(sql "SELECT id FROM dpn.sites WHERE number = $site")
sql "SELECT setval('bench_seq', 1, false)" >/dev/null
cat >"$work/storm.sql" <<SQL
SELECT nextval('bench_seq') - 1 AS n \gset
\set f :n / 5
\set k :n % 5
\set gw $first + :f
\if :k = 0
SELECT dpn.broker_allocate(g.id, g.mac, '{}') FROM dpn.gateways g WHERE g.id = :gw;
\else
SELECT dpn.broker_enrol($sid, f.circuit_id, ('02:01:' || regexp_replace(lpad(to_hex(:n), 8, '0'), '(..)(?!\$)', '\1:', 'g'))::macaddr)
  FROM dpn.gateways g JOIN dpn.flats f ON f.id = g.flat_id WHERE g.id = :gw;
\endif
SQL
t0=$(date +%s.%N)
bench storm 64 $(( flats * 5 / 64 + 1 )) "$work/storm.sql"
t1=$(date +%s.%N)
served=$(sql "SELECT count(*) FROM dpn.assignments WHERE site_id = $sid")
echo "storm   $flats gateways + $((flats * 4)) handsets: $served addresses in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s (pgbench wall time, connections included)"

# The same storm inside one statement on a fresh site: the database's own cost
# per operation, without client round trips (on a loaded machine those
# round trips and lock hand-offs wait for a CPU, and dominate the figures).
site=$((site + 1))
make_site $site $flats "10.$site.0.0/16"
first=$(gw_min $site); sid=$(sql "SELECT id FROM dpn.sites WHERE number = $site")
sql "SELECT count(CASE WHEN n % 5 = 0 THEN dpn.broker_allocate(g.id, g.mac, '{}')
       ELSE dpn.broker_enrol($sid, f.circuit_id, ('02:02:' || regexp_replace(
         lpad(to_hex(n), 8, '0'), '(..)(?!\$)', '\1:', 'g'))::macaddr) END),
       round(extract(epoch FROM clock_timestamp() - statement_timestamp())::numeric, 2)
  FROM generate_series(0, $flats * 5 - 1) n
  JOIN dpn.gateways g ON g.id = $first + n / 5 JOIN dpn.flats f ON f.id = g.flat_id" |
  awk -F'|' '{ printf "serial  %d operations of the storm in one statement: %s s (%.2f ms each)\n", $1, $2, $2 * 1000 / $1 }'

# Fragmented pool: 7,000 blocks of 8, every other one freed, then new blocks
# (the top of the pool fills first, then the holes).
site=$((site + 1)); big=$(( quick ? 1000 : 7000 ))
make_site $site $((big + N)) "10.$site.0.0/16"
first=$(gw_min $site)
sql "SELECT count(dpn.broker_allocate(g.id, g.mac, '{}')) FROM dpn.gateways g
     WHERE g.id < $first + $big" >/dev/null
sql "SELECT count(dpn.broker_delete_gateway(g.flat_id, true)) FROM dpn.gateways g
     WHERE g.id < $first + $big AND g.id % 2 = 0" >/dev/null
sql "SELECT setval('bench_seq', $first + $big, false)" >/dev/null
bench frag 64 $(( N / 64 )) "$work/new.sql"
echo "frag    blocks in the pool after the run: $(sql "SELECT count(*) FROM dpn.blocks b JOIN dpn.sites s ON s.id = b.site_id WHERE s.number = $site")"
