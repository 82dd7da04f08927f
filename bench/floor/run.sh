#!/usr/bin/env bash
# Runs fanout_floor in a network namespace of its own, tuned as bench/scale/run.sh tunes
# its own (the same backlog and TCP buffer sizes), and removes the namespace afterwards.
# Usage: sudo bench/floor/run.sh [fanout_floor options], e.g. --connections 100000 --procs 6
# Environment: CHAT_BIN [build/bin] where fanout_floor is; NICE [5] as the scale run.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${CHAT_BIN:-$here/build/bin}"
NS=chatfloor
[ "$(id -u)" = 0 ] || { echo "floor: needs root (network namespace)" >&2; exit 77; }
[ -x "$bin/fanout_floor" ] || { echo "floor: no $bin/fanout_floor (build target fanout_floor)" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"
ip netns del "$NS" 2>/dev/null || true
ip netns add "$NS"
trap 'ip netns del "$NS" 2>/dev/null || true' EXIT
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" sysctl -qw net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535 \
  net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_rmem="4096 16384 4194304" \
  net.ipv4.tcp_wmem="4096 16384 4194304"
echo "floor: machine: $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
ip netns exec "$NS" nice -n "${NICE:-5}" "$bin/fanout_floor" "$@"
