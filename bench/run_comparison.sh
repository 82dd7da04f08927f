#!/usr/bin/env bash
# Runs the side-by-side fan-out comparison of issue 6 (bench/README.md, "Gateway fan-out vs
# peers"): gatewayd (our daemon set under chatd, with a throw-away config) against
# nats-server (WebSocket), mosquitto (MQTT over WebSocket) and ejabberd (MUC over
# WebSocket), all driven by bench/fanout's fanout_bench, and prints one table. It took
# about 20 minutes with idle runs to 19,000; the idle step at 100,000 adds several minutes
# per repetition (ejabberd's slow connection set-up, ~340/s here, is most of the time).
#
# Everything runs inside a network namespace of its own ("chatbench", loopback only, with
# 127.0.0.2-20 for client source addresses and its own somaxconn, port range and TCP
# buffer defaults), which is deleted on exit. Each system is started fresh for each
# scenario run and stopped after it; systems are interleaved within each repetition.
#
# Idle connections past one process: a process here can hold at most ~20,000 sockets (the
# open-file hard limit; raising it needs CAP_SYS_RESOURCE), so an idle step of N
# connections above PER_PROC runs on K = ceil(N / PER_PROC) instances of the system, each
# fresh, with K generators in parallel, one per instance (its own port, its own client
# source addresses, at most 1,000 / K connections in set-up each): gatewayd is the daemon
# set under chatd plus K-1 more gatewayd processes on the same bus (as bench/scale/run.sh
# does); nats-server, mosquitto and ejabberd are K independent processes (ejabberd: nodes)
# from bench/peers/peers.sh. Their RESULT lines are merged into one (table.py --merge):
# RSS per connection = (sum over the instances of RSS growth from each fresh instance's
# baseline) / all connections. Idle steps up to PER_PROC run as one ladder on one
# instance, in one run, as before.
#
# Needs root (namespaces, apt-get). Environment knobs (defaults in brackets):
#   CHAT_BIN [build/bin]  where chatd, gatewayd, guildd, stored and fanout_bench are
#   FANOUT_BENCH          the generator; built with g++ into OUT when missing
#   SYSTEMS ["gatewayd nats mosquitto ejabberd"]   REPEATS [3]
#   IDLE [10000,100000; "none" skips the idle runs]
#   PER_PROC [18000]  most idle connections per server instance (and per generator)
#   SUBS [5000]
#   RATES [10,100 msgs/s; "none" or empty skips the fan-out runs]  DURATION [5 s per rate]
#   DRAIN [5 s]  NICE [-10]
#   OUT [a new /tmp/chatbench-XXXXXX]: results.jsonl, logs, table.txt, table.md
#   TRACE [0]     1: every probe delivery and publish acknowledgement of each fan-out run
#                 into trace.<system>.<n> ("D rate msg probe sent_us latency_us", "A rate
#                 sent_us latency_us"; times from the run's first send)
#   SYSCALLS [0]  1: count gatewayd's syscalls (perf stat) during each fan-out run and
#                 divide by its deliveries (chat_gatewayd_deliveries_total), into syscalls.txt
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="${CHAT_BIN:-$here/build/bin}"
SYSTEMS="${SYSTEMS:-gatewayd nats mosquitto ejabberd}"
REPEATS="${REPEATS:-3}"
SUBS="${SUBS:-5000}"
IDLE="${IDLE:-10000,100000}"
PER_PROC="${PER_PROC:-18000}"
RATES="${RATES-10,100}"
[ "$RATES" != none ] || RATES=""
DURATION="${DURATION:-5}"
DRAIN="${DRAIN:-5}"
NICE="${NICE:--10}"
NS=chatbench
out="${OUT:-$(mktemp -d /tmp/chatbench-XXXXXX)}"
mkdir -p "$out/run"
results="$out/results.jsonl"
: >"$results"

[ "$(id -u)" = 0 ] || { echo "run_comparison.sh: needs root (network namespace, apt-get)" >&2; exit 77; }

# ---- limits: the open-file limit caps connections per process, hence PER_PROC ----
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fd_hard="$(ulimit -Hn)"
case "$PER_PROC" in '' | *[!0-9]* | 0) echo "run_comparison.sh: PER_PROC must be a positive number" >&2; exit 64 ;; esac
if [ "$fd_hard" != unlimited ] && [ "$PER_PROC" -gt $((fd_hard - 500)) ]; then
  echo "run_comparison.sh: PER_PROC=$PER_PROC is above the open-file hard limit $fd_hard (less 500): lower it" >&2
  exit 64
fi
# Idle steps up to PER_PROC: one ladder on one instance; each step above: its own run on
# ceil(step / PER_PROC) instances.
idle_one="" idle_many=()
if [ "$IDLE" != none ]; then
  for n in ${IDLE//,/ }; do
    case "$n" in '' | *[!0-9]* | 0) echo "run_comparison.sh: bad IDLE step '$n'" >&2; exit 64 ;; esac
    if [ "$n" -le "$PER_PROC" ]; then
      idle_one="${idle_one:+$idle_one,}$n"
    elif [ $(((n + PER_PROC - 1) / PER_PROC)) -gt 57 ]; then
      # Instance i listens on instance 0's ports plus i: ejabberd's would meet at 58.
      echo "run_comparison.sh: IDLE step $n needs more than 57 instances of $PER_PROC: raise PER_PROC" >&2
      exit 64
    else
      idle_many+=("$n")
    fi
  done
fi

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

# ---- the namespace ----
current=""
chatd_pid=""
gw_extra=()  # gatewayd processes beyond chatd's (idle runs over several instances)
gen_pids=()  # generators running in parallel
cleanup() {
  local p
  for p in "${gen_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
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
# The servers' ports (each instance's: the first one's plus its index) are kept out of the
# client port range: mosquitto's WebSocket listener binds every address, so a client
# socket left by an earlier run (TIME_WAIT, on 127.0.0.x) with that port as its source
# port keeps it from starting ("Unable to create websockets listener").
in_ns sysctl -qw net.ipv4.ip_local_reserved_ports="1883-1999,4222-4299,4369,5222-5399,8222-8299,8443-8499,8790-8899,9001-9099"

# ---- systems: start SYSTEM [K] sets PIDS_OF and PORT_OF (one entry per instance), PIDS
# and PORT (instance 0's) and ARGS ----
start_system() {
  local sys="$1" k="${2:-1}" i
  current="$sys"
  PIDS_OF=() PORT_OF=()
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
      PIDS_OF=("$(ps -o pid=,comm= --ppid "$chatd_pid" | awk '$2=="gatewayd"{print $1}')")
      PORT_OF=(8790)
      # More instances: more gatewayd processes on the same bus and daemons, ports 8801...
      for ((i = 1; i < k; i++)); do
        local port=$((8800 + i))
        CHAT_GATEWAY_LISTEN="127.0.0.1:$port" ip netns exec "$NS" nice -n "$NICE" \
          "$bin/gatewayd" --config "$d/chat.toml" >"$d/gatewayd.$i.log" 2>&1 &
        gw_extra+=($!)
        ok=""
        for _ in $(seq 1 600); do
          in_ns curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && { ok=1; break; }
          kill -0 "${gw_extra[-1]}" 2>/dev/null || break
          sleep 0.1
        done
        [ -n "$ok" ] || { echo "gatewayd $i not ready; see $d/gatewayd.$i.log" >&2; return 1; }
        PIDS_OF+=("${gw_extra[-1]}")
        PORT_OF+=("$port")
      done
      ARGS=(--system gatewayd --token "$tok" --channel "$cid")
      ;;
    nats | mosquitto | ejabberd)
      # Instance i listens on instance 0's port plus i (bench/peers/peers.sh).
      local base=8443 gen_sys=nats
      [ "$sys" != mosquitto ] || { base=9001; gen_sys=mqtt; }
      [ "$sys" != ejabberd ] || { base=5280; gen_sys=xmpp; }
      for ((i = 0; i < k; i++)); do
        local pid
        pid=$(in_ns nice -n "$NICE" "$here/bench/peers/peers.sh" start "$sys" "$out/run" "$i") || return 1
        PIDS_OF+=("$pid")
        PORT_OF+=("$((base + i))")
      done
      ARGS=(--system "$gen_sys")
      ;;
  esac
  PIDS="${PIDS_OF[0]}"
  PORT="${PORT_OF[0]}"
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
      local p
      for p in "${gw_extra[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
      for p in "${gw_extra[@]}"; do wait "$p" 2>/dev/null || true; done
      gw_extra=()
      if [ -n "$chatd_pid" ]; then
        # Its metrics as the run left them (fan-out latency, queue, closes), for reading later.
        metrics_n=$((${metrics_n:-0} + 1))
        in_ns curl -sf http://127.0.0.1:8790/metrics >"$out/metrics.gatewayd.$metrics_n" 2>/dev/null || true
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
  local trace=()
  if [ "${TRACE:-0}" = 1 ] && [ "$scenario" = fanout ]; then
    trace_n=$((${trace_n:-0} + 1))
    trace=(--dump "$out/trace.$sys.$trace_n")
  fi
  in_ns timeout 900 nice -n "$NICE" "$gen" "${ARGS[@]}" --port "$PORT" --pid "$PIDS" \
    --scenario "$scenario" "${trace[@]}" "$@" 2>>"$out/fanout.log" | tee -a "$out/raw.txt" |
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

run_idle_many() {  # run_idle_many SYSTEM CONNECTIONS: one idle step over several instances
  local sys="$1" n="$2"
  local k=$(((n + PER_PROC - 1) / PER_PROC))
  local per=$(((n + k - 1) / k)) i
  if ! start_system "$sys" "$k"; then
    stop_system "$sys"
    return 0
  fi
  echo "== $sys idle $n over $k instances (pids ${PIDS_OF[*]}, load $(cut -d' ' -f1-3 /proc/loadavg))"
  # Together the generators keep about 1,000 connections in set-up, as one does alone
  # (gatewayd's guildd refuses identifies past ~1,800 in flight), and take longer to connect.
  local inflight=$((1000 / k > 50 ? 1000 / k : 50))
  local files=()
  for ((i = 0; i < k; i++)); do
    local ni=$per src
    [ $((i * per + ni)) -le "$n" ] || ni=$((n - i * per))
    # Each generator its own source addresses: a share of 127.0.0.2-20 while there are
    # enough, else 127.<1 + i/250>.<i%250>.1 (all of 127/8 is local on lo).
    if [ "$k" -le 19 ]; then
      src=(--src-base "127.0.0.$((2 + i * (19 / k)))" --src-count "$((19 / k))")
    else
      src=(--src-base "127.$((1 + i / 250)).$((i % 250)).1" --src-count 1)
    fi
    files+=("$out/run/idle.$i.out")
    ip netns exec "$NS" timeout 1800 nice -n "$NICE" "$gen" "${ARGS[@]}" --port "${PORT_OF[i]}" \
      --pid "${PIDS_OF[i]}" --scenario idle --connections "$ni" --settle 5 \
      --max-inflight "$inflight" --connect-timeout 1500 "${src[@]}" --tag "i$i" \
      >"${files[i]}" 2>"$out/run/idle.$i.err" &
    gen_pids+=($!)
  done
  for i in "${!gen_pids[@]}"; do wait "${gen_pids[i]}" 2>/dev/null || true; done
  gen_pids=()
  for ((i = 0; i < k; i++)); do
    sed "s/^/[instance $i] /" "$out/run/idle.$i.err" >>"$out/fanout.log"
    cat "${files[i]}" >>"$out/raw.txt"
  done
  python3 "$here/bench/fanout/table.py" --merge "$n" "${files[@]}" | tee -a "$out/raw.txt" |
    sed -n 's/^RESULT //p' | tee -a "$results" | python3 "$here/bench/fanout/table.py" --progress || true
  stop_system "$sys"
}

fan="no fan-out runs"
[ -z "$RATES" ] || fan="$SUBS subscribers at $RATES msg/s"
echo "fan-out comparison: systems [$SYSTEMS], $REPEATS repetitions, idle $IDLE (at most $PER_PROC per server process), $fan"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "output: $out"
start_s=$SECONDS
for rep in $(seq 1 "$REPEATS"); do
  echo "--- repetition $rep of $REPEATS"
  for sys in $SYSTEMS; do
    [ -z "$idle_one" ] || run "$sys" idle --connections "$idle_one" --settle 5
    for n in "${idle_many[@]}"; do run_idle_many "$sys" "$n"; done
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
