#!/usr/bin/env bash
# Load test of the example server on loopback: requests per second of
# GET /api/me with a valid token against GET /healthz (no authentication)
# on the same server, in alternating rounds. Needs wrk (Debian: apt-get
# install wrk) and curl.
#
#   bash scripts/load.sh            # SQLite store, 3 rounds of 10 s per route
#   STORE=redis://127.0.0.1:6379/0 ROUNDS=5 SECONDS_PER_RUN=15 bash scripts/load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }

ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
tmp=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
STORE=${STORE:-$tmp/load.db}
ADDR=127.0.0.1:${PORT:-18089}

(cd examples && GOWORK=off go build -o "$tmp/api" ./api)
AUTH_SECRET=load-test-secret-of-at-least-32-bytes "$tmp/api" -addr "$ADDR" -store "$STORE" 2>/dev/null &
pid=$!
for _ in $(seq 100); do curl -sf "http://$ADDR/healthz" >/dev/null && break; sleep 0.1; done

token=$(curl -sf -X POST "http://$ADDR/api/login" \
  -d '{"email":"alice@example.com","password":"correct horse battery staple"}' |
  sed -E 's/.*"token":"([^"]+)".*/\1/')
[ -n "$token" ] || { echo "login failed"; exit 1; }
curl -sf "http://$ADDR/api/me" -H "Authorization: Bearer $token" >/dev/null

rps() { # URL [header]
  local args=(-t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency)
  [ $# -gt 1 ] && args+=(-H "$2")
  wrk "${args[@]}" "$1" | awk '/Requests\/sec/ {print $2}'
}

echo "store: $STORE; $ROUNDS rounds of ${SECONDS_PER_RUN}s per route, $CONNECTIONS connections, $THREADS wrk thread(s)"
printf '%-6s %14s %14s %8s\n' round healthz_rps me_rps ratio
for r in $(seq "$ROUNDS"); do
  open=$(rps "http://$ADDR/healthz")
  me=$(rps "http://$ADDR/api/me" "Authorization: Bearer $token")
  awk -v r="$r" -v o="$open" -v m="$me" 'BEGIN { printf "%-6s %14s %14s %8.3f\n", r, o, m, m / o }'
done
