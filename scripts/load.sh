#!/usr/bin/env bash
# Load test of the example server on loopback: requests per second of
# GET /api/me with a valid token against GET /healthz (no authentication)
# on the same server, in alternating rounds. Needs wrk (Debian: apt-get
# install wrk) and curl.
#
#   bash scripts/load.sh            # SQLite store, 3 rounds of 10 s per route
#   STORE=redis://127.0.0.1:6379/0 ROUNDS=5 SECONDS_PER_RUN=15 bash scripts/load.sh
#
# INSTANCES=2 (with a shared store) starts two servers on that store and
# loads both at once, one wrk each; the rates are summed. EXTRA_FLAGS goes
# to every server (e.g. EXTRA_FLAGS=-mirror=false).
#   STORE=postgres://postgres@127.0.0.1:5432/test INSTANCES=2 bash scripts/load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }

ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
INSTANCES=${INSTANCES:-1}
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
STORE=${STORE:-$tmp/load.db}
PORT=${PORT:-18089}
ADDR=127.0.0.1:$PORT
addrs=()

(cd examples && GOWORK=off go build -o "$tmp/api" ./api)
for i in $(seq 0 $((INSTANCES - 1))); do
  a=127.0.0.1:$((PORT + i))
  # shellcheck disable=SC2086
  AUTH_SECRET=load-test-secret-of-at-least-32-bytes "$tmp/api" -addr "$a" -store "$STORE" ${EXTRA_FLAGS:-} 2>"$tmp/server$i.log" &
  pids+=($!)
  addrs+=("$a")
  for _ in $(seq 100); do curl -sf "http://$a/healthz" >/dev/null && break; sleep 0.1; done
done

token=$(curl -sf -X POST "http://$ADDR/api/login" \
  -d '{"email":"alice@example.com","password":"correct horse battery staple"}' |
  sed -E 's/.*"token":"([^"]+)".*/\1/')
[ -n "$token" ] || { echo "login failed"; exit 1; }
curl -sf "http://$ADDR/api/me" -H "Authorization: Bearer $token" >/dev/null

one_rps() { # URL [header]
  local args=(-t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency)
  [ $# -gt 1 ] && args+=(-H "$2")
  wrk "${args[@]}" "$1" | awk '/Requests\/sec/ {print $2}'
}

rps() { # PATH [header]: summed over the instances, loaded at once
  local i files=() wrks=()
  for i in "${!addrs[@]}"; do
    one_rps "http://${addrs[$i]}$1" "${@:2}" >"$tmp/rps$i" &
    wrks+=($!)
    files+=("$tmp/rps$i")
  done
  wait "${wrks[@]}"
  cat "${files[@]}" | awk '{ s += $1 } END { printf "%.2f", s }'
}

grep -h 'mirror\|Redis may lose' "$tmp"/server*.log | head -n 4 || true
echo "store: $STORE; $INSTANCES instance(s); $ROUNDS rounds of ${SECONDS_PER_RUN}s per route, $CONNECTIONS connections, $THREADS wrk thread(s)"
printf '%-6s %14s %14s %8s\n' round healthz_rps me_rps ratio
for r in $(seq "$ROUNDS"); do
  open=$(rps /healthz)
  me=$(rps /api/me "Authorization: Bearer $token")
  awk -v r="$r" -v o="$open" -v m="$me" 'BEGIN { printf "%-6s %14s %14s %8.3f\n", r, o, m, m / o }'
done
