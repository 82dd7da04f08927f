#!/usr/bin/env bash
# Scale run of issue 6 (bench/README.md, "Scale: N sessions on one machine"): SESSIONS
# identified gateway sessions in ONE guild, held by PROCS gatewayd processes on one
# machine (one NATS bus, one stored/guildd/presenced under chatd; each gatewayd is a node
# with its own presence lease), driven by PROCS fanout_bench generators (--scenario hold).
# A process here can hold at most ~20,000 sockets (open-file hard limit), hence several
# processes on each side. It prints:
#   - the connect rate (all generators together) and how many sessions got READY;
#   - gatewayd RSS growth per idle identified session (sum over all gatewayd processes),
#     each process's baseline, and the kernel's slab growth per session;
#   - for MESSAGES REST posts to one channel of the guild, GAP seconds apart: the time from
#     the post to the LAST session receiving it, and p50/p99 over every session.
# Everything runs in its own network namespace (tuned like bench/run_comparison.sh),
# under nice, bounded in time, and every process and the data dir are removed on exit.
#
# Usage: sudo bench/scale/run.sh [SESSIONS=100000] [PROCS=ceil(SESSIONS/18000)] [MESSAGES=5]
# Environment (defaults in brackets):
#   CHAT_BIN [build/bin]  chatd, gatewayd, guildd, stored, presenced, fanout_bench
#   USERS [10]      distinct member users; session i identifies as user i % USERS (over
#                   1,000: written into the directory in bulk, guildd restarted to load them)
#   THREADS [1]     gateway.threads per gatewayd process
#   REUSEPORT [0]   1: every gatewayd listens on the same port (SO_REUSEPORT) and the kernel
#                   spreads the connections; 0: one port per gatewayd, one generator each
#   INFLIGHT [1800/PROCS, at least 50]  sessions in set-up at once per generator
#   GAP [2] s between messages   CONNECT_S [600] connect bound   HOLD_S [900] whole-run bound
#   SETTLE [12] s between the last READY and the RSS reading
#   FLOOR [0]  1: after the messages, the same fan-out by bench/floor's fanout_floor (bare
#              write() to READY-many loopback connections, bare readers): the kernel's floor
#   RETRIES [3]  a session whose set-up failed (e.g. guildd answered 503 when overloaded) is
#              tried again, 1 s later, up to this many times, as a real client reconnects
#   NICE [5]   OUT [new /tmp/chatscale-XXXXXX] (results kept; daemon data removed)
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${CHAT_BIN:-$here/build/bin}"
SESSIONS="${1:-100000}"
PER_MAX=18000
PROCS="${2:-$(((SESSIONS + PER_MAX - 1) / PER_MAX))}"
MESSAGES="${3:-5}"
USERS="${USERS:-10}"
THREADS="${THREADS:-1}"
REUSEPORT="${REUSEPORT:-0}"
INFLIGHT="${INFLIGHT:-}"
GAP="${GAP:-2}"
CONNECT_S="${CONNECT_S:-600}"
HOLD_S="${HOLD_S:-900}"
NICE="${NICE:-5}"
RETRIES="${RETRIES:-3}"
NS=chatscale
out="${OUT:-$(mktemp -d /tmp/chatscale-XXXXXX)}"
mkdir -p "$out"
run="$out/run"
gen="${FANOUT_BENCH:-$bin/fanout_bench}"
[ "$(id -u)" = 0 ] || { echo "scale: needs root (network namespace)" >&2; exit 77; }
[ -x "$gen" ] || { echo "scale: no $gen (build target fanout_bench)" >&2; exit 1; }
per=$(((SESSIONS + PROCS - 1) / PROCS))
# guildd answers 503 past its queue: about 1,800 identifies in flight in all is what it
# takes here without refusals (the generator does not retry a refused IDENTIFY).
[ -n "$INFLIGHT" ] || INFLIGHT=$((1800 / PROCS > 50 ? 1800 / PROCS : 50))
fd_hard="$(ulimit -Hn)"
if [ "$fd_hard" != unlimited ] && [ "$per" -gt $((fd_hard - 500)) ]; then
  echo "scale: $per sessions per process exceeds the open-file hard limit $fd_hard; use more PROCS" >&2
  exit 64
fi
ulimit -n "$fd_hard"

pids=()      # every process we started (killed on exit)
gw_pids=()
gen_pids=()
chatd_pid=""
cleanup() {
  set +e
  for p in "${gen_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${gw_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${gen_pids[@]}" "${gw_pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
  done
  if [ -n "$chatd_pid" ]; then
    kill -TERM "$chatd_pid" 2>/dev/null
    for _ in $(seq 1 300); do kill -0 "$chatd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$chatd_pid" 2>/dev/null
  fi
  wait 2>/dev/null
  ip netns del "$NS" 2>/dev/null
  rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns del "$NS" 2>/dev/null || true
ip netns add "$NS"
in_ns() { ip netns exec "$NS" "$@"; }
in_ns ip link set lo up
in_ns sysctl -qw net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535 \
  net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_rmem="4096 16384 4194304" \
  net.ipv4.tcp_wmem="4096 16384 4194304"

mkdir -p "$run"
base_port=9100
cat >"$run/chat.toml" <<TOML
data_dir = "$run/var"
[log]
level = "warning"
[nats]
url = "nats://127.0.0.1:4290"
[chatd]
listen = "127.0.0.1:8891"
programs = ["stored", "guildd", "presenced"]
[gateway]
listen = "127.0.0.1:$base_port"
threads = $THREADS
rest_rate_limit = 1000000
request_timeout_ms = 30000
[guild]
listen = "127.0.0.1:8892"
[store]
listen = "127.0.0.1:8893"
TOML

meminfo() { awk '/^(Slab|SUnreclaim|MemAvailable):/{printf "%s %s ", $1, $2}' /proc/meminfo; }
slab_kb() { awk '/^Slab:/{print $2}' /proc/meminfo; }
rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
note() { echo "scale: $*" | tee -a "$out/summary.txt"; }
cpu_s() {  # cpu_s PID...: user+system CPU seconds, summed
  local t=0 p
  for p in "$@"; do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  python3 -c "print('%.1f' % ($t / $(getconf CLK_TCK)))"
}
daemon_pid() { pgrep -n -x "$1" -P "$chatd_pid" 2>/dev/null || echo 0; }
cpu_report() {  # cpu_report LABEL: CPU seconds used so far by each kind of process
  note "CPU s so far ($1): gatewayd $(cpu_s "${gw_pids[@]}"), generators $(cpu_s "${gen_pids[@]}"), $(for n in guildd presenced stored nats-server; do printf '%s %s, ' "$n" "$(cpu_s "$(daemon_pid "$n")")"; done)load $(cut -d' ' -f1 /proc/loadavg)"
}

note "$SESSIONS sessions, $PROCS gatewayd + $PROCS generators ($per each), $USERS users, $MESSAGES messages; threads $THREADS, reuseport $REUSEPORT"
note "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r), fd hard limit $fd_hard, file-max $(cat /proc/sys/fs/file-max); load $(cut -d' ' -f1-3 /proc/loadavg)"
note "kernel before: $(meminfo)"
slab0=$(slab_kb)

ip netns exec "$NS" nice -n "$NICE" "$bin/chatd" --config "$run/chat.toml" >"$out/chatd.log" 2>&1 &
chatd_pid=$!
start_gw() {  # start_gw INDEX
  local port=$base_port
  [ "$REUSEPORT" = 1 ] || port=$((base_port + $1))
  CHAT_GATEWAY_LISTEN="127.0.0.1:$port" ip netns exec "$NS" nice -n "$NICE" \
    "$bin/gatewayd" --config "$run/chat.toml" >"$out/gatewayd.$1.log" 2>&1 &
  gw_pids+=($!)
  local ok=""
  for _ in $(seq 1 600); do
    in_ns curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && { ok=1; break; }
    kill -0 "${gw_pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$ok" ] || { echo "scale: gatewayd $1 not ready; see $out/gatewayd.$1.log $out/chatd.log" >&2; exit 1; }
}
t_start=$SECONDS
for i in $(seq 0 $((PROCS - 1))); do start_gw "$i"; done
sleep 2
rss0=()
for p in "${gw_pids[@]}"; do rss0+=("$(rss_kb "$p")"); done
note "gatewayd baseline RSS (KiB) per process: ${rss0[*]}"

# ---- the guild, its channel and USERS member users ----
tok="$(cat "$run/var/admin.token")"
in_ns python3 - "$base_port" "$tok" "$USERS" "$run" <<'PY'
import http.client, json, sys
port, tok, users, run = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
def call(method, path, body=None):
    c.request(method, "/api/v10/" + path, body=json.dumps(body) if body is not None else None,
              headers={"Authorization": "Bot " + tok, "Content-Type": "application/json"})
    r = c.getresponse(); data = r.read()
    if r.status >= 300: sys.exit("scale: %s %s -> %d %s" % (method, path, r.status, data[:200]))
    return json.loads(data) if data else None
gid = call("POST", "guilds", {"name": "scale"})["id"]
cid = call("POST", "guilds/%s/channels" % gid, {"name": "room", "type": 0})["id"]
if users <= 1000:
    with open(run + "/tokens", "w") as f:
        for i in range(users):
            u = call("POST", "admin/users", {"name": "scale%d" % i})
            call("PUT", "guilds/%s/members/%s" % (gid, u["id"]))
            f.write(u["token"] + "\n")
open(run + "/ids", "w").write("%s %s\n" % (gid, cid))
PY
read -r gid cid <"$run/ids"
if [ "$USERS" -gt 1000 ]; then
  # Many users: written straight into the directory with their tokens (tests/lib/bulk_members.py,
  # 1,000 records per request), then guildd is restarted by chatd to load them.
  t_users=$SECONDS
  in_ns env PYTHONPATH="$here/tests/lib" python3 - "$gid" "$USERS" "$run/tokens" <<'PY'
import sys
import bulk_members
gid, users, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
tokens = []
bulk_members.write_members(4290, [gid], users, 1000000, prefix="scale", tokens=tokens)
open(path, "w").write("".join(t + "\n" for t in tokens))
PY
  old_guildd=$(daemon_pid guildd)
  kill -KILL "$old_guildd"
  for _ in $(seq 1 600); do
    p=$(daemon_pid guildd)
    [ "$p" != 0 ] && [ "$p" != "$old_guildd" ] && in_ns curl -sf http://127.0.0.1:8892/readyz >/dev/null 2>&1 && break
    sleep 0.1
  done
  in_ns curl -sf http://127.0.0.1:8892/readyz >/dev/null || { echo "scale: guildd not back after the bulk load" >&2; exit 1; }
  note "$USERS users with tokens written in bulk and guildd reloaded in $((SECONDS - t_users)) s"
fi
note "guild $gid, channel $cid, $USERS member users (plus the admin, the owner)"

# ---- generators: connect and hold ----
rm -f "$run"/ready.* "$run/stop"
t0=$(date +%s.%N)
for i in $(seq 0 $((PROCS - 1))); do
  n=$per
  [ $((i * per + n)) -le "$SESSIONS" ] || n=$((SESSIONS - i * per))
  port=$base_port
  [ "$REUSEPORT" = 1 ] || port=$((base_port + i))
  # Source address 127.<1+i/250>.<i%250>.1: each generator its own, so ports never run out.
  ip netns exec "$NS" nice -n "$NICE" "$gen" --system gatewayd --scenario hold --port "$port" \
    --token "$tok" --tokens-file "$run/tokens" --channel "$cid" --subscribers "$n" \
    --src-base "127.$((1 + i / 250)).$((i % 250)).1" --src-count 1 --per-src 1000000 \
    --max-inflight "$INFLIGHT" --retries "$RETRIES" --connect-timeout "$CONNECT_S" --duration "$HOLD_S" \
    --expect "$MESSAGES" --ready-file "$run/ready.$i" --stop-file "$run/stop" \
    --dump "$out/lat.$i" --tag "g$i" >"$out/gen.$i.out" 2>"$out/gen.$i.err" &
  gen_pids+=($!)
done
deadline=$((SECONDS + CONNECT_S + 90))
while [ "$(ls "$run"/ready.* 2>/dev/null | wc -l)" -lt "$PROCS" ] && [ $SECONDS -lt $deadline ]; do
  sleep 0.2
done
t1=$(date +%s.%N)
sleep 1
grep -h '"scenario":"hold"' "$out"/gen.*.out | sed 's/^RESULT //' >"$out/connect.jsonl" || true
ready=$(python3 -c "import json,sys; print(sum(json.loads(l)['connected'] for l in open(sys.argv[1]) if l.strip()))" "$out/connect.jsonl")
connect_s=$(python3 -c "print('%.1f' % ($t1 - $t0 - 0.5))")  # each generator pumps 0.5 s after its last READY
note "connected: $ready of $SESSIONS READY in ${connect_s} s = $(python3 -c "print('%.0f' % ($ready / max($connect_s, 0.1)))")/s (all generators together)"
cpu_report "connected"
python3 - "$out/connect.jsonl" <<'PY' | tee -a "$out/summary.txt"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
reasons = {}
for r in rows:
    for k, v in r["reasons"].items(): reasons[k] = reasons.get(k, 0) + v
print("scale: per generator: ready %s, failed %d (after %d retries), connect s %s; reasons %s" % (
    [r["connected"] for r in rows], sum(r["failed"] for r in rows), sum(r.get("retried", 0) for r in rows),
    [r["connect_s"] for r in rows], reasons or "-"))
PY

# ---- idle memory: after one heap-trim period of gatewayd (10 s) ----
sleep "${SETTLE:-12}"
rss1=()
grow=0
for k in "${!gw_pids[@]}"; do
  r=$(rss_kb "${gw_pids[$k]}")
  rss1+=("$r")
  grow=$((grow + r - rss0[k]))
done
slab1=$(slab_kb)
note "gatewayd RSS after (KiB): ${rss1[*]}"
note "gatewayd RSS growth: $grow KiB for $ready sessions = $(python3 -c "print('%.0f B' % ($grow * 1024 / max($ready, 1)))") per idle identified session"
note "kernel slab growth: $((slab1 - slab0)) KiB = $(python3 -c "print('%.0f B' % (($slab1 - $slab0) * 1024 / max($ready, 1)))") per session (both socket ends, epoll, files; all processes)"
gen_rss=0
for p in "${gen_pids[@]}"; do gen_rss=$((gen_rss + $(rss_kb "$p"))); done
note "generators' RSS: $gen_rss KiB in all = $(python3 -c "print('%.0f B' % ($gen_rss * 1024 / max($ready, 1)))") per session"
note "kernel after: $(meminfo)"
note "sockstat: $(in_ns cat /proc/net/sockstat | tr '\n' ' ')"
note "other daemons' RSS (KiB): $(for n in nats-server stored guildd presenced; do printf '%s %s  ' "$n" "$(rss_kb "$(daemon_pid "$n")")"; done)"

# ---- messages: post, the generators record every session's receipt ----
perf_pid=""
if [ "${PERF:-0}" = 1 ]; then  # whole-machine profile of the message phase
  perf record -a -g -F 499 -o "$out/perf.data" >/dev/null 2>&1 &
  perf_pid=$!
fi
if [ "$MESSAGES" -gt 0 ] && [ "$ready" -gt 0 ]; then
  in_ns python3 - "$base_port" "$tok" "$cid" "$MESSAGES" "$GAP" "${gw_pids[*]}" "$ready" <<'PY' | tee -a "$out/summary.txt"
import http.client, json, os, sys, time
port, tok, cid, n, gap = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
pids, sessions = sys.argv[6].split(), int(sys.argv[7])
def gw_cpu():  # CPU seconds of all gatewayd processes
    t = 0
    for p in pids:
        f = open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()
        t += int(f[11]) + int(f[12])
    return t / os.sysconf("SC_CLK_TCK")
# A post waits behind the fan-out of the one before on the same cores: allow 30 s plus
# 1 s per 5,000 sessions (it timed out at 30 s with 945,516 sessions).
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30 + sessions / 5000)
acks, cpu = [], []
c0 = gw_cpu(); time.sleep(gap); idle = gw_cpu() - c0  # heartbeats, cron: the background
for k in range(n):
    if k:
        time.sleep(gap)
        cpu.append(gw_cpu() - c0 - idle)
    c0 = gw_cpu()
    t = time.monotonic_ns()  # CLOCK_MONOTONIC: the generators' clock too
    body = json.dumps({"content": "bench:h:%d:n%d:" % (t, k)})
    c.request("POST", "/api/v10/channels/%s/messages" % cid, body=body,
              headers={"Authorization": "Bot " + tok, "Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    acks.append((time.monotonic_ns() - t) / 1e6)
    if r.status != 200: print("scale: post %d answered %d" % (k, r.status))
time.sleep(gap); cpu.append(gw_cpu() - c0 - idle)
print("scale: REST post acknowledged (ms): " + " ".join("%.1f" % a for a in acks))
print("scale: gatewayd CPU per message, all processes, above the idle %.2f s per %.0f s: %s s "
      "= %s us per delivery" % (idle, gap, " ".join("%.2f" % x for x in cpu),
                                " ".join("%.1f" % (x * 1e6 / max(sessions, 1)) for x in cpu)))
PY
fi
deadline=$((SECONDS + 60 + MESSAGES * 10))
for p in "${gen_pids[@]}"; do
  while kill -0 "$p" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
done
cpu_report "after the messages"
if [ -n "$perf_pid" ]; then
  kill -INT "$perf_pid" 2>/dev/null || true
  wait "$perf_pid" 2>/dev/null || true
  perf report -i "$out/perf.data" --no-children --sort comm,dso --stdio 2>/dev/null |
    grep -v '^#' | grep -v '^$' | head -25 >"$out/perf.comm.txt" || true
  note "perf (share of all samples by process, library): $out/perf.comm.txt"
fi
touch "$run/stop"
for p in "${gen_pids[@]}"; do
  for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
done
gen_pids=()
python3 "$here/bench/scale/merge.py" "$out" "$MESSAGES" | tee -a "$out/summary.txt"
if [ "${FLOOR:-0}" = 1 ] && [ "$ready" -gt 0 ]; then
  # The same fan-out with nothing but write() and read() on each side (bench/floor): the
  # kernel's floor on this machine, measured in the same run, in the same namespace.
  if [ -x "$bin/fanout_floor" ]; then
    in_ns nice -n "$NICE" "$bin/fanout_floor" --connections "$ready" --procs "$PROCS" \
      --rounds "$MESSAGES" --gap "$GAP" | tee -a "$out/summary.txt"
  else
    note "no $bin/fanout_floor: floor not measured"
  fi
fi
note "took $((SECONDS - t_start)) s; load $(cut -d' ' -f1-3 /proc/loadavg); results in $out"
