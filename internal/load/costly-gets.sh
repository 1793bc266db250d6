#!/bin/sh
# costly-gets.sh: ballot latency under costly anonymous GETs (issue 13, defect 7),
# on loopback, bounded (about a minute and a half), stopping by itself.
#
#   internal/load/costly-gets.sh [SCRUTIN-BINARY]
#
# Sets up a demo election (2,000 voters, SQLite) in a temporary folder, serves it
# with sign-in off, then casts RATE ballots/s for DURATION three times: alone; with
# BROWSERS clients fetching the WebAssembly module without gzip and /e/demo/ballots from
# one address; and the same from BROWSERS addresses (X-Forwarded-For through a
# trusted proxy, so that per-client limits do not help). Figures: docs/performance.md.
set -eu
bin=${1:-scrutin}
rate=${RATE:-100}
dur=${DURATION:-20s}
browsers=${BROWSERS:-16}
addr=${ADDR:-127.0.0.1:18431}
dir=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM
"$bin" demo --voters 2000 --no-vote --dir "$dir" >/dev/null
"$bin" serve --dir "$dir" --sign-in off --addr "$addr" --trusted-proxy 127.0.0.1/32 >"$dir/serve.out" 2>"$dir/serve.err" &
pid=$!
i=0
until curl -fs "http://$addr/healthz" >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -gt 100 ] && { echo "the server did not start" >&2; cat "$dir/serve.err" >&2; exit 1; }
	sleep 0.1
done
run() {
	echo "# $*"
	"$bin" load --url "http://$addr" --credentials "$dir/elections/demo/credentials.csv" --rate "$rate" --duration "$dur" "$@" | grep -v '^  ' || true
}
run
run --browsers "$browsers"
run --browsers "$browsers" --browse-from-many
