#!/usr/bin/env bash
# Runs every check and every test of every module: gofmt, go mod tidy -diff,
# go vet, staticcheck, and go test -race. The one test command of the README
# and of CI (.ci/run).
#
# Integration tests talk to real servers, found through these variables
# (defaults: the standard local ports):
#   GUARDIAN_TEST_POSTGRES_DSN  postgres://postgres@127.0.0.1:5432/test?sslmode=disable
#   GUARDIAN_TEST_MYSQL_DSN     root@tcp(127.0.0.1:3306)/test?parseTime=true
#   GUARDIAN_TEST_REDIS_URL     redis://127.0.0.1:6379/0
# A server that does not answer is started if it is installed here. If it
# still does not answer, its tests skip; with CI=true they fail instead.
#
# redisstore's Cluster and Sentinel tests need two more topologies:
#   GUARDIAN_TEST_REDIS_CLUSTER_ADDRS    a Redis Cluster (3 masters, 1 replica each)
#   GUARDIAN_TEST_REDIS_SENTINEL_ADDRS   sentinels of a primary with a replica
#   GUARDIAN_TEST_REDIS_SENTINEL_MASTER  its master name
# Unless both addresses are set, scripts/redis-topologies.sh starts both
# (replacing a lone one set) when redis-server is installed, on ports
# 7101-7106, 7111-7112 and 7121-7123 or the next free block, and stops them
# when this script exits. If they cannot be had, their tests skip; with
# CI=true they fail.
#
# Options: SKIP_LINT=1 skips staticcheck (it is fetched from the module proxy
# on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOWORK=off

# The modules, in dependency order. Nested modules have their own go.mod.
modules=()
for m in . sqlstore redisstore guardiangin guardianecho examples benchmarks; do
  [ -f "$m/go.mod" ] && modules+=("$m")
done

export GUARDIAN_TEST_POSTGRES_DSN="${GUARDIAN_TEST_POSTGRES_DSN-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
export GUARDIAN_TEST_MYSQL_DSN="${GUARDIAN_TEST_MYSQL_DSN-root@tcp(127.0.0.1:3306)/test?parseTime=true}"
export GUARDIAN_TEST_REDIS_URL="${GUARDIAN_TEST_REDIS_URL-redis://127.0.0.1:6379/0}"

say() { printf '== %s\n' "$*"; }

# port_open HOST PORT: whether something listens there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_port HOST PORT: up to 30 s.
wait_port() {
  for _ in $(seq 60); do port_open "$1" "$2" && return 0; sleep 0.5; done
  return 1
}

# ensure NAME HOST PORT VAR START...: make the server answer, or unset VAR so
# its tests skip (and fail under CI=true).
ensure() {
  local name=$1 host=$2 port=$3 var=$4; shift 4
  [ -n "${!var}" ] || return 0
  port_open "$host" "$port" && return 0
  say "$name is not answering on $host:$port; starting it"
  if "$@" >/dev/null 2>&1 && wait_port "$host" "$port"; then return 0; fi
  say "$name could not be started: its tests will skip (and fail under CI=true)"
  unset "$var"
}

start_postgres() { command -v pg_ctlcluster >/dev/null && pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start; }
start_mariadb() { command -v mariadbd >/dev/null && start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd; }
start_redis() {
  command -v redis-server >/dev/null &&
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir "${TMPDIR:-/tmp}" --logfile "${TMPDIR:-/tmp}/guardian-redis.log"
}

if printf '%s\n' "${modules[@]}" | grep -qx sqlstore; then
  ensure PostgreSQL 127.0.0.1 5432 GUARDIAN_TEST_POSTGRES_DSN start_postgres
  ensure MariaDB 127.0.0.1 3306 GUARDIAN_TEST_MYSQL_DSN start_mariadb
fi
if printf '%s\n' "${modules[@]}" | grep -qx redisstore; then
  ensure Redis 127.0.0.1 6379 GUARDIAN_TEST_REDIS_URL start_redis
  if [ -z "${GUARDIAN_TEST_REDIS_CLUSTER_ADDRS:-}" ] || [ -z "${GUARDIAN_TEST_REDIS_SENTINEL_ADDRS:-}" ]; then
    # shellcheck source=redis-topologies.sh
    source scripts/redis-topologies.sh
    trap redis_topologies_stop EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    redis_topologies_start ||
      say "a Redis Cluster or Sentinel could not be started: its tests will skip (and fail under CI=true)"
  fi
fi

say "gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  printf 'gofmt would change:\n%s\n' "$unformatted"
  exit 1
fi

status=0

# The README's `go run ./examples/api` runs in the workspace (go.work): it
# must not change go.work.sum in a fresh clone.
say "workspace build leaves go.work.sum as committed"
if ! (env -u GOWORK go build -o /dev/null ./examples/api && git diff --quiet -- go.work.sum 2>/dev/null); then
  say "go.work.sum is incomplete: run 'go build ./... && go test -run XXX ./...' with the workspace and commit it"
  git diff --stat -- go.work.sum || true
  status=1
fi

for m in "${modules[@]}"; do
  say "module $m"
  # Each step stops the module at its first failure (set -e does not apply
  # inside a subshell whose status is tested).
  (
    cd "$m" &&
      go mod tidy -diff &&
      go vet ./... &&
      { [ -n "${SKIP_LINT:-}" ] || go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...; } &&
      go test -race -count=1 ./...
  ) || { status=1; say "module $m FAILED"; }
done

# No test may depend on today's date: run the root and the store suites
# again with the tests' clock a year ahead and a year behind the machine's
# (internal/testclock). Fixtures then sit a year away from every default
# clock of the code under test. These runs (-short: no load tests, no
# topology changes) mostly wait on the servers, so they run at once, each
# to a log of its own, printed in order. The sqlstore tests cap their pools
# (helpers_test.go's limitPool), so that two runs together stay well under
# the servers' max_connections.
offset_logs=$(mktemp -d)
offset_runs=()
offset_pids=()
for offset in +8760h -8760h; do
  for m in "${modules[@]}"; do
    case "$m" in .|sqlstore|redisstore) ;; *) continue ;; esac
    log="$offset_logs/${#offset_runs[@]}"
    (cd "$m" && GUARDIAN_TEST_CLOCK_OFFSET=$offset go test -count=1 -short ./... >"$log" 2>&1 && echo 0 >"$log.rc" || echo 1 >"$log.rc") &
    offset_pids+=($!)
    offset_runs+=("$offset $m")
  done
done
wait "${offset_pids[@]}"
for i in "${!offset_runs[@]}"; do
  read -r offset m <<<"${offset_runs[$i]}"
  say "module $m with GUARDIAN_TEST_CLOCK_OFFSET=$offset"
  cat "$offset_logs/$i"
  if [ "$(cat "$offset_logs/$i.rc" 2>/dev/null)" != 0 ]; then
    status=1
    say "module $m FAILED with GUARDIAN_TEST_CLOCK_OFFSET=$offset"
  fi
done
rm -rf "$offset_logs"

if [ "$status" -ne 0 ]; then
  say "FAILED"
else
  say "all modules passed"
fi
exit "$status"
