#!/usr/bin/env bash
# Starts the Redis topologies that redisstore's Cluster and Sentinel tests
# need, on loopback ports, without persistence:
#   - a Redis Cluster of three masters with one replica each (6 nodes,
#     ports BASE..BASE+5, cluster bus ports +10000);
#   - a primary and a replica (BASE+10, BASE+11) watched by three sentinels
#     (BASE+20..BASE+22) under the master name "guardian", quorum 2, with
#     short timeouts, so that a test failover takes a few seconds.
# BASE is 7101 (GUARDIAN_REDIS_TOPOLOGY_PORT), so 7101-7106, 7111-7112 and
# 7121-7123. A topology already healthy on a block of ports (a previous run
# left running, e.g. by hand) is reused and left running; a block with any
# port taken otherwise is skipped for the next one (7201, 7301, ... 7901).
#
# By hand (prints the variables; the servers keep running until stop):
#   eval "$(scripts/redis-topologies.sh start)"
#   cd redisstore && GOWORK=off go test -race -count=1 ./...
#   scripts/redis-topologies.sh stop      # reads GUARDIAN_REDIS_TOPOLOGY_DIR
#
# From another script (scripts/test.sh): source this file, then
#   redis_topologies_start && trap redis_topologies_stop EXIT
# It exports, for each topology it could start or reuse:
#   GUARDIAN_TEST_REDIS_CLUSTER_ADDRS    127.0.0.1:7101,...,127.0.0.1:7106
#   GUARDIAN_TEST_REDIS_SENTINEL_ADDRS   127.0.0.1:7121,127.0.0.1:7122,127.0.0.1:7123
#   GUARDIAN_TEST_REDIS_SENTINEL_MASTER  guardian
#   GUARDIAN_REDIS_TOPOLOGY_DIR          where the servers it started keep pid
#                                        files, logs and configs
# A topology that cannot be started leaves its variables unset: its tests
# then skip, and fail with CI=true. Stopping ends only the processes this
# run started (by the pids in their pid files) and waits until they exit,
# so their ports are free again.

_rt_say() { printf '== %s\n' "$*" >&2; }

# _rt_cli PORT ARGS...: one redis-cli call, bounded in time.
_rt_cli() {
  local port=$1
  shift
  timeout 5 redis-cli -h 127.0.0.1 -p "$port" "$@" 2>/dev/null
}

# _rt_free PORT: whether nothing listens on PORT.
_rt_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# _rt_field TEXT NAME: the value of NAME:value in INFO-like TEXT.
_rt_field() { printf '%s\n' "$1" | tr -d '\r' | sed -n "s/^$2://p" | head -n1; }

# _rt_wait SECONDS COMMAND...: retry COMMAND every 0.2 s until it succeeds.
_rt_wait() {
  local n=$(($1 * 5))
  shift
  for _ in $(seq "$n"); do "$@" && return 0; sleep 0.2; done
  return 1
}

# _rt_server DIR PORT ARGS...: start a daemonized redis-server of this run
# in DIR, with no persistence, that syncs a new replica at once (not after
# the default 5 s wait for more replicas). Its pid file marks it as ours.
_rt_server() {
  local dir=$1 port=$2
  shift 2
  mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
    --repl-diskless-sync-delay 0 --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" "$@" >/dev/null
}

# Cluster -----------------------------------------------------------------

# _rt_cluster_ports BASE
_rt_cluster_ports() { seq "$1" $(($1 + 5)); }

# _rt_cluster_healthy BASE: six nodes answer, each says cluster_state:ok and
# knows six nodes, and each of the three masters has a replica online.
_rt_cluster_healthy() {
  local base=$1 port info masters=0
  for port in $(_rt_cluster_ports "$base"); do
    info=$(_rt_cli "$port" cluster info) || return 1
    [ "$(_rt_field "$info" cluster_state)" = ok ] || return 1
    [ "$(_rt_field "$info" cluster_known_nodes)" = 6 ] || return 1
    info=$(_rt_cli "$port" info replication) || return 1
    if [ "$(_rt_field "$info" role)" = master ]; then
      masters=$((masters + 1))
      printf '%s\n' "$info" | grep -q '^slave0:.*state=online' || return 1
    else
      [ "$(_rt_field "$info" master_link_status)" = up ] || return 1
    fi
  done
  [ "$masters" = 3 ]
}

# _rt_cluster_start BASE: start six nodes and join them.
_rt_cluster_start() {
  local base=$1 port addrs=()
  for port in $(_rt_cluster_ports "$base"); do
    _rt_server "$GUARDIAN_REDIS_TOPOLOGY_DIR/cluster-$port" "$port" \
      --cluster-enabled yes --cluster-config-file "$GUARDIAN_REDIS_TOPOLOGY_DIR/cluster-$port/nodes.conf" \
      --cluster-node-timeout 2000 || return 1
    addrs+=("127.0.0.1:$port")
  done
  for port in $(_rt_cluster_ports "$base"); do
    _rt_wait 10 _rt_cli "$port" ping >/dev/null || return 1
  done
  timeout 60 redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >"$GUARDIAN_REDIS_TOPOLOGY_DIR/cluster-create.log" 2>&1 ||
    { _rt_say "redis-cli --cluster create failed: see $GUARDIAN_REDIS_TOPOLOGY_DIR/cluster-create.log"; return 1; }
  _rt_wait 30 _rt_cluster_healthy "$base"
}

# Sentinel ----------------------------------------------------------------

# _rt_sentinel_ports BASE: primary, replica, three sentinels.
_rt_sentinel_ports() { echo $(($1 + 10)) $(($1 + 11)) $(($1 + 20)) $(($1 + 21)) $(($1 + 22)); }

# _rt_sentinel_healthy BASE: the three sentinels agree on a primary, which
# is one of the two data nodes and has the other as a replica online, and
# each sentinel knows the replica and the two other sentinels.
_rt_sentinel_healthy() {
  local base=$1 s master="" addr info
  for s in $(($1 + 20)) $(($1 + 21)) $(($1 + 22)); do
    addr=$(_rt_cli "$s" sentinel get-master-addr-by-name guardian | tr '\n' ':' | sed 's/:$//') || return 1
    [ -n "$addr" ] || return 1
    [ -z "$master" ] || [ "$master" = "$addr" ] || return 1
    master=$addr
    info=$(_rt_cli "$s" sentinel master guardian | tr -d '\r' | paste - - | tr '\t' ':') || return 1
    [ "$(_rt_field "$info" flags)" = master ] || return 1
    [ "$(_rt_field "$info" num-slaves)" = 1 ] || return 1
    [ "$(_rt_field "$info" num-other-sentinels)" = 2 ] || return 1
  done
  case "$master" in
    "127.0.0.1:$((base + 10))" | "127.0.0.1:$((base + 11))") ;;
    *) return 1 ;;
  esac
  info=$(_rt_cli "${master##*:}" info replication) || return 1
  [ "$(_rt_field "$info" role)" = master ] &&
    printf '%s\n' "$info" | grep -q '^slave0:.*state=online'
}

# _rt_sentinel_start BASE
_rt_sentinel_start() {
  local base=$1 primary=$(($1 + 10)) replica=$(($1 + 11)) s dir
  _rt_server "$GUARDIAN_REDIS_TOPOLOGY_DIR/sentinel-data-$primary" "$primary" || return 1
  _rt_server "$GUARDIAN_REDIS_TOPOLOGY_DIR/sentinel-data-$replica" "$replica" --replicaof 127.0.0.1 "$primary" || return 1
  for s in $((base + 20)) $((base + 21)) $((base + 22)); do
    dir="$GUARDIAN_REDIS_TOPOLOGY_DIR/sentinel-$s"
    mkdir -p "$dir"
    # Sentinel rewrites its config file: one of its own, in its directory.
    cat >"$dir/sentinel.conf" <<EOF
port $s
bind 127.0.0.1
daemonize yes
pidfile $dir/redis.pid
logfile $dir/redis.log
dir $dir
sentinel monitor guardian 127.0.0.1 $primary 2
sentinel down-after-milliseconds guardian 1000
sentinel failover-timeout guardian 3000
sentinel parallel-syncs guardian 1
EOF
    redis-server "$dir/sentinel.conf" --sentinel >/dev/null || return 1
  done
  _rt_wait 30 _rt_sentinel_healthy "$base"
}

# Both --------------------------------------------------------------------

# _rt_pick KIND: reuse a healthy topology or start one on the first block
# of free ports; prints the base port.
_rt_pick() {
  local kind=$1 base port busy
  for base in $(seq "${GUARDIAN_REDIS_TOPOLOGY_PORT:-7101}" 100 7999); do
    if "_rt_${kind}_healthy" "$base"; then
      _rt_say "Redis $kind: reusing the healthy one on ports from $base (left running)"
      echo "$base"
      return 0
    fi
    busy=
    for port in $("_rt_${kind}_ports" "$base"); do
      _rt_free "$port" || busy=$port
      if [ "$kind" = cluster ]; then _rt_free $((port + 10000)) || busy=$((port + 10000)); fi
    done
    if [ -n "$busy" ]; then
      _rt_say "Redis $kind: port $busy is taken and the ports from $base hold no healthy $kind; trying the next block"
      continue
    fi
    _rt_say "Redis $kind: starting it on ports from $base"
    if "_rt_${kind}_start" "$base"; then
      echo "$base"
      return 0
    fi
    _rt_say "Redis $kind could not be started on ports from $base; stopping what was started (see $GUARDIAN_REDIS_TOPOLOGY_DIR/$kind-*/redis.log)"
    _rt_stop "$kind" >&2
    return 1
  done
  return 1
}

# redis_topologies_start: start (or reuse) both topologies, at the same
# time, and export their variables. Returns non-zero if either could not be
# had.
redis_topologies_start() {
  local base status=0 dir
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    _rt_say "redis-server or redis-cli is not installed: no Redis Cluster or Sentinel"
    return 1
  fi
  export GUARDIAN_REDIS_TOPOLOGY_DIR="${GUARDIAN_REDIS_TOPOLOGY_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/guardian-redis-topologies-$$.XXXXXX")}"
  dir=$GUARDIAN_REDIS_TOPOLOGY_DIR
  mkdir -p "$dir" || return 1
  _rt_pick cluster >"$dir/cluster.base" &
  _rt_pick sentinel >"$dir/sentinel.base" &
  wait
  if base=$(cat "$dir/cluster.base") && [ -n "$base" ]; then
    export GUARDIAN_TEST_REDIS_CLUSTER_ADDRS
    GUARDIAN_TEST_REDIS_CLUSTER_ADDRS=$(_rt_cluster_ports "$base" | sed 's/^/127.0.0.1:/' | paste -sd, -)
  else
    status=1
  fi
  if base=$(cat "$dir/sentinel.base") && [ -n "$base" ]; then
    export GUARDIAN_TEST_REDIS_SENTINEL_ADDRS="127.0.0.1:$((base + 20)),127.0.0.1:$((base + 21)),127.0.0.1:$((base + 22))"
    export GUARDIAN_TEST_REDIS_SENTINEL_MASTER=guardian
  else
    status=1
  fi
  rm -f "$dir/cluster.base" "$dir/sentinel.base"
  # Nothing of ours to stop later (every topology reused): no directory.
  if rmdir "$dir" 2>/dev/null; then unset GUARDIAN_REDIS_TOPOLOGY_DIR; fi
  return "$status"
}

# _rt_stop PREFIX: stop the servers this run started whose directories
# under GUARDIAN_REDIS_TOPOLOGY_DIR start with PREFIX, and wait until they
# have exited.
_rt_stop() {
  local dir=${GUARDIAN_REDIS_TOPOLOGY_DIR:-} f pid pids=()
  [ -n "$dir" ] && [ -d "$dir" ] || return 0
  for f in "$dir/$1"*/redis.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    # Only a redis-server, in case the pid was reused since.
    if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q redis-server; then
      kill "$pid" 2>/dev/null && pids+=("$pid")
    fi
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  [ "${#pids[@]}" -eq 0 ] || _rt_say "Redis topologies: stopped ${#pids[@]} servers"
}

# redis_topologies_stop: stop every server this run started (those with a
# pid file under GUARDIAN_REDIS_TOPOLOGY_DIR), wait until they exit, and
# remove the directory.
redis_topologies_stop() {
  _rt_stop ""
  if [ -n "${GUARDIAN_REDIS_TOPOLOGY_DIR:-}" ]; then rm -rf "$GUARDIAN_REDIS_TOPOLOGY_DIR"; fi
  return 0
}

# Run as a command rather than sourced.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  case "${1:-}" in
    start)
      if ! redis_topologies_start; then
        _rt_say "some topology could not be started; see the messages above"
      fi
      for v in GUARDIAN_TEST_REDIS_CLUSTER_ADDRS GUARDIAN_TEST_REDIS_SENTINEL_ADDRS GUARDIAN_TEST_REDIS_SENTINEL_MASTER GUARDIAN_REDIS_TOPOLOGY_DIR; do
        if [ -n "${!v:-}" ]; then printf "export %s='%s'\n" "$v" "${!v//\'/\'\\\'\'}"; fi
      done
      ;;
    stop)
      if [ -z "${GUARDIAN_REDIS_TOPOLOGY_DIR:-}" ] && [ -n "${2:-}" ]; then GUARDIAN_REDIS_TOPOLOGY_DIR=$2; fi
      if [ -z "${GUARDIAN_REDIS_TOPOLOGY_DIR:-}" ]; then
        _rt_say "GUARDIAN_REDIS_TOPOLOGY_DIR is not set: nothing started by this shell to stop (start prints it when it starts servers)"
        exit 0
      fi
      redis_topologies_stop
      ;;
    *)
      printf 'usage: eval "$(%s start)"; %s stop [DIR]\n' "$0" "$0" >&2
      exit 2
      ;;
  esac
fi
