#!/usr/bin/env bash
# Runs the side-by-side fan-out comparison of issue 6 (bench/README.md, "Gateway fan-out vs
# peers"): gatewayd (our daemon set under chatd, with a throw-away config) against
# nats-server (WebSocket), mosquitto (MQTT over WebSocket) and ejabberd (MUC over
# WebSocket), all driven by bench/fanout's fanout_bench, and prints one table. About 20
# minutes with the defaults (ejabberd's slow connection set-up is most of it).
#
# Everything runs inside a network namespace of its own ("chatbench", loopback only, with
# 127.0.0.2-20 for client source addresses and its own somaxconn, port range and TCP
# buffer defaults), which is deleted on exit. Each system is started fresh for each
# scenario run and stopped after it; systems are interleaved within each repetition.
#
# Needs root (namespaces, apt-get). Environment knobs (defaults in brackets):
#   CHAT_BIN [build/bin]  where chatd, gatewayd, guildd, stored and fanout_bench are
#   FANOUT_BENCH          the generator; built with g++ into OUT when missing
#   SYSTEMS ["gatewayd nats mosquitto ejabberd"]   REPEATS [3]
#   IDLE [10000,100000, capped below the open-file hard limit; "none" skips the idle runs]
#   SUBS [5000]
#   RATES [10,100 msgs/s]  DURATION [5 s per rate]  DRAIN [5 s]  NICE [-10]
#   OUT [a new /tmp/chatbench-XXXXXX]: results.jsonl, logs, table.txt, table.md
#   SYSCALLS [0]  1: count gatewayd's syscalls (perf stat) during each fan-out run and
#                 divide by its deliveries (chat_gatewayd_deliveries_total), into syscalls.txt
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="${CHAT_BIN:-$here/build/bin}"
SYSTEMS="${SYSTEMS:-gatewayd nats mosquitto ejabberd}"
REPEATS="${REPEATS:-3}"
SUBS="${SUBS:-5000}"
RATES="${RATES:-10,100}"
DURATION="${DURATION:-5}"
DRAIN="${DRAIN:-5}"
NICE="${NICE:--10}"
NS=chatbench
out="${OUT:-$(mktemp -d /tmp/chatbench-XXXXXX)}"
mkdir -p "$out/run"
results="$out/results.jsonl"
: >"$results"

[ "$(id -u)" = 0 ] || { echo "run_comparison.sh: needs root (network namespace, apt-get)" >&2; exit 77; }

# ---- peers and tools ----
need=()
command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v ejabberdctl >/dev/null || [ -x /usr/sbin/ejabberdctl ] || need+=(ejabberd)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin:/sbin"

gen="${FANOUT_BENCH:-$bin/fanout_bench}"
if [ ! -x "$gen" ]; then
  echo "building fanout_bench into $out"
  g++ -std=c++20 -O2 -o "$out/fanout_bench" "$here"/bench/fanout/*.cpp -lpthread
  gen="$out/fanout_bench"
fi

# ---- limits: the open-file limit caps connections per process ----
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fd_hard="$(ulimit -Hn)"
if [ -z "${IDLE:-}" ]; then
  if [ "$fd_hard" = unlimited ] || [ "$fd_hard" -gt 101000 ]; then
    IDLE=10000,100000
  else
    # Neither the servers nor the generator can hold more than fd_hard sockets; raising the
    # hard limit needs CAP_SYS_RESOURCE.
    IDLE="10000,$(((fd_hard - 1000) / 1000 * 1000))"
    echo "note: open-file hard limit is $fd_hard (raising it needs CAP_SYS_RESOURCE): idle runs go to $IDLE"
  fi
fi

# ---- the namespace ----
current=""
chatd_pid=""
cleanup() {
  if [ -n "$current" ]; then stop_system "$current" || true; fi
  ip netns del "$NS" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns del "$NS" 2>/dev/null || true
ip netns add "$NS"
in_ns() { ip netns exec "$NS" "$@"; }
in_ns ip link set lo up
for i in $(seq 2 20); do in_ns ip addr add "127.0.0.$i/8" dev lo; done
in_ns sysctl -qw net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535 \
  net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_rmem="4096 16384 4194304" \
  net.ipv4.tcp_wmem="4096 16384 4194304"

# ---- systems: start sets PIDS, PORT and ARGS ----
start_system() {
  local sys="$1"
  current="$sys"
  case "$sys" in
    gatewayd)
      local d="$out/run/chat" && rm -rf "$d" && mkdir -p "$d"
      cat >"$d/chat.toml" <<TOML
data_dir = "$d/var"
[log]
level = "warning"
[nats]
url = "nats://127.0.0.1:4290"
[chatd]
listen = "127.0.0.1:8791"
[gateway]
listen = "127.0.0.1:8790"
[guild]
listen = "127.0.0.1:8792"
[store]
listen = "127.0.0.1:8793"
TOML
      # Not through in_ns: a backgrounded function would be a subshell, and $! its pid.
      ip netns exec "$NS" nice -n "$NICE" "$bin/chatd" --config "$d/chat.toml" >"$d/chatd.log" 2>&1 &
      chatd_pid=$!
      local ok=""
      for _ in $(seq 1 600); do
        in_ns curl -sf http://127.0.0.1:8790/readyz >/dev/null 2>&1 && { ok=1; break; }
        sleep 0.1
      done
      [ -n "$ok" ] || { echo "gatewayd not ready; see $d/chatd.log" >&2; return 1; }
      local tok auth
      tok="$(cat "$d/var/admin.token")"
      auth="Authorization: Bot $tok"
      local gid cid
      gid=$(in_ns curl -sf -X POST -H "$auth" -H 'Content-Type: application/json' \
        -d '{"name":"fanout"}' http://127.0.0.1:8790/api/v10/guilds |
        python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
      cid=$(in_ns curl -sf -X POST -H "$auth" -H 'Content-Type: application/json' \
        -d '{"name":"room","type":0}' "http://127.0.0.1:8790/api/v10/guilds/$gid/channels" |
        python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
      PIDS=$(ps -o pid=,comm= --ppid "$chatd_pid" | awk '$2=="gatewayd"{print $1}')
      PORT=8790
      ARGS=(--system gatewayd --token "$tok" --channel "$cid")
      ;;
    nats)
      PIDS=$(in_ns nice -n "$NICE" "$here/bench/peers/peers.sh" start nats "$out/run")
      PORT=8443
      ARGS=(--system nats)
      ;;
    mosquitto)
      PIDS=$(in_ns nice -n "$NICE" "$here/bench/peers/peers.sh" start mosquitto "$out/run")
      PORT=9001
      ARGS=(--system mqtt)
      ;;
    ejabberd)
      PIDS=$(in_ns nice -n "$NICE" "$here/bench/peers/peers.sh" start ejabberd "$out/run")
      PORT=5280
      ARGS=(--system xmpp)
      ;;
  esac
  sleep 1  # let the fresh server finish its start-up allocations before the RSS baseline
}

deliveries() {  # gatewayd's chat_gatewayd_deliveries_total
  in_ns curl -sf http://127.0.0.1:8790/metrics |
    awk '$1=="chat_gatewayd_deliveries_total"{printf "%d", $2}'
}

stop_system() {
  local sys="$1"
  case "$sys" in
    gatewayd)
      if [ -n "$chatd_pid" ]; then
        kill -TERM "$chatd_pid" 2>/dev/null || true
        wait "$chatd_pid" 2>/dev/null || true
        chatd_pid=""
      fi
      ;;
    *) in_ns "$here/bench/peers/peers.sh" stop "$sys" "$out/run" || true ;;
  esac
  current=""
}

run() {  # run SYSTEM SCENARIO ARGS...
  local sys="$1" scenario="$2"
  shift 2
  if ! start_system "$sys"; then
    stop_system "$sys"
    return 0
  fi
  echo "== $sys $scenario (pid $PIDS, load $(cut -d' ' -f1-3 /proc/loadavg))"
  local perf_pid="" d0=0
  if [ "${SYSCALLS:-0}" = 1 ] && [ "$sys" = gatewayd ] && [ "$scenario" = fanout ]; then
    d0=$(deliveries)
    perf stat -x, -o "$out/perf.tmp" -e raw_syscalls:sys_enter,syscalls:sys_enter_epoll_ctl \
      -e syscalls:sys_enter_writev,syscalls:sys_enter_write,syscalls:sys_enter_epoll_wait \
      -p "$(echo "$PIDS" | head -1)" 2>/dev/null &
    perf_pid=$!
  fi
  in_ns timeout 900 nice -n "$NICE" "$gen" "${ARGS[@]}" --port "$PORT" --pid "$PIDS" \
    --scenario "$scenario" "$@" 2>>"$out/fanout.log" | tee -a "$out/raw.txt" |
    sed -n 's/^RESULT //p' | tee -a "$results" | python3 "$here/bench/fanout/table.py" --progress || true
  if [ -n "$perf_pid" ]; then
    local d1
    d1=$(deliveries)
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
    python3 - "$out/perf.tmp" "$((d1 - d0))" "$*" <<'PY' | tee -a "$out/syscalls.txt"
import sys
counts = {}
for line in open(sys.argv[1]):
    f = line.strip().split(",")
    if len(f) > 2 and f[0].replace(".", "").isdigit():
        counts[f[2].split(":")[-1]] = float(f[0])
n = int(sys.argv[2]) or 1
print("syscalls per delivery (%s; %d deliveries): " % (sys.argv[3], n) +
      ", ".join("%s %.3f" % (k.replace("sys_enter_", ""), v / n) for k, v in counts.items()))
PY
  fi
  stop_system "$sys"
}

echo "fan-out comparison: systems [$SYSTEMS], $REPEATS repetitions, idle $IDLE, $SUBS subscribers at $RATES msg/s"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "output: $out"
start_s=$SECONDS
for rep in $(seq 1 "$REPEATS"); do
  echo "--- repetition $rep of $REPEATS"
  for sys in $SYSTEMS; do
    [ "$IDLE" = none ] || run "$sys" idle --connections "$IDLE" --settle 5
    # One fresh server per rate, so that a saturated server's backlog from the first rate
    # does not spill into the second.
    for rate in ${RATES//,/ }; do
      run "$sys" fanout --subscribers "$SUBS" --rates "$rate" --duration "$DURATION" --drain "$DRAIN"
    done
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg); took $((SECONDS - start_s)) s"
echo
python3 "$here/bench/fanout/table.py" "$results" | tee "$out/table.txt"
python3 "$here/bench/fanout/table.py" "$results" --markdown >"$out/table.md"
