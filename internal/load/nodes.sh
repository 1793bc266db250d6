#!/bin/bash
# Issue 18's figures (docs/performance.md, "Several nodes on one
# PostgreSQL"): one "scrutin serve" node, then three behind HAProxy (the
# README's configuration), on one PostgreSQL database, under "scrutin load".
#
#   go build -o /tmp/scrutin ./cmd/scrutin
#   psql -h 127.0.0.1 -U postgres test -c 'CREATE SCHEMA perf18'
#   WORK=/tmp/perf18 S=/tmp/scrutin RATES="100 300 600" bash internal/load/nodes.sh
#
# WORK gets the data folders d1, d2, d3 (made by "scrutin demo" on first use)
# and haproxy.cfg; DB is the database (default: the schema perf18 of the
# local test server). Each line printed is one rate on 1 or 3 nodes: the load
# report, and the CPU seconds of the nodes and of every postgres process.
set -u
repo="$(cd "$(dirname "$0")/../.." && pwd)"
WORK=${WORK:-/tmp/perf18}
DB=${DB:-'postgres://postgres@127.0.0.1:5432/test?sslmode=disable&search_path=perf18'}
S=${S:-/tmp/scrutin}
mkdir -p "$WORK" && cd "$WORK"
if [ ! -d d1 ]; then
  $S demo --voters 6000 --dir d1 --db "$DB" --no-vote > demo.log || exit 1
fi
mkdir -p d2 d3 && cp d1/log.key d2/ && cp d1/log.key d3/
sed -n '/^```haproxy$/,/^```$/p' "$repo/README.md" | sed '1d;$d' |
  sed 's/127.0.0.1:8000/127.0.0.1:18100/; s/127.0.0.1:8001/127.0.0.1:18101/; s/127.0.0.1:8002/127.0.0.1:18102/; s/127.0.0.1:8003/127.0.0.1:18103/' > haproxy.cfg
cpu() { # CPU seconds of the given PIDs
  local t=0; for p in "$@"; do read -r -a f < /proc/$p/stat; t=$((t + f[13] + f[14])); done; echo "scale=2; $t/$(getconf CLK_TCK)" | bc; }
pgcpu() { local t=0; for p in $(pgrep -x postgres); do read -r -a f < /proc/$p/stat 2>/dev/null || continue; t=$((t + f[13] + f[14])); done; echo "scale=2; $t/$(getconf CLK_TCK)" | bc; }
ready() { for _ in $(seq 120); do curl -sf -o /dev/null "$1/healthz" && return 0; sleep 0.5; done; return 1; }
start() { # node i
  $S serve --dir d$1 --db "$DB" --sign-in off --addr 127.0.0.1:1810$1 --trusted-proxy 127.0.0.1/32 > node$1.out 2> node$1.err &
  echo $!; }
measure() { # url rate label pids...
  local url=$1 rate=$2 label=$3; shift 3
  local c0=$(cpu "$@") p0=$(pgcpu)
  local out=$($S load --url $url --credentials d1/elections/demo/credentials.csv --rate $rate --duration 15s --json)
  local c1=$(cpu "$@") p1=$(pgcpu)
  local acc=$(echo "$out" | grep '"accepted"' | head -1 | tr -dc 0-9)
  echo "$label rate=$rate: $(echo "$out" | grep -E '"(accepted|accepted_per_second|refused|failed|p50_ms|p99_ms|max_ms)"' | tr -d ' \n') nodes_cpu=$(echo "$c1-$c0" | bc)s postgres_cpu=$(echo "$p1-$p0" | bc)s per_ballot_nodes_ms=$(echo "scale=2; 1000*($c1-$c0)/$acc" | bc) per_ballot_pg_ms=$(echo "scale=2; 1000*($p1-$p0)/$acc" | bc)"
}
RATES=${RATES:-"150 300"}
p1=$(start 1); ready http://127.0.0.1:18101 || { echo node1 not ready; cat node1.err; exit 1; }
for r in $RATES; do measure http://127.0.0.1:18101 $r "1 node" $p1; done
p2=$(start 2); p3=$(start 3)
ready http://127.0.0.1:18102 && ready http://127.0.0.1:18103 || { echo nodes not ready; exit 1; }
haproxy -f haproxy.cfg -db > haproxy.out 2>&1 & hp=$!
sleep 3
for r in $RATES; do measure http://127.0.0.1:18100 $r "3 nodes (HAProxy)" $p1 $p2 $p3; done
kill $hp; kill $p1 $p2 $p3; wait
