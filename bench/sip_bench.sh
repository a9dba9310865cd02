#!/usr/bin/env bash
# bench/sip_bench.sh — lib/sip throughput (messages/s on one core, pinned
# with taskset) and instructions per message (valgrind callgrind: the
# difference between N and 0 messages, divided by N). In memory only: no
# network. Bounded: three 2-second runs per mode, callgrind on 20000.
#
#   bench/sip_bench.sh            (builds build/rel/bench/sip_bench)
#   BENCH_CPU=1 bench/sip_bench.sh  (pin to another core)
set -euo pipefail
cd "$(dirname "$0")/.."
make --no-print-directory build/rel/bench/sip_bench >/dev/null
b=build/rel/bench/sip_bench
pin=""
command -v taskset >/dev/null && pin="taskset -c ${BENCH_CPU:-0}"
for mode in parse check proxy; do
  for i in 1 2 3; do $pin $b $mode; done
done
if command -v valgrind >/dev/null; then
  n=20000
  for mode in parse check proxy; do
    ir() {
      valgrind --tool=callgrind --callgrind-out-file=/dev/null "$b" "$mode" "$1" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
    }
    base=$(ir 0); full=$(ir $n)
    echo "$mode: $(( (full - base) / n )) instructions per message (callgrind, $n messages)"
  done
fi
