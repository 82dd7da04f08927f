#!/usr/bin/env bash
# Runs the gateway benchmark of bench/README.md: starts the daemon set under chatd with a
# throw-away config on free loopback ports, then chat_loadgen with N sessions, and prints
# what it measured. Usage: bench/gateway_load/run.sh [SESSIONS] [MESSAGES] [RATE]
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${CHAT_BIN:-$here/build/bin}"
sessions="${1:-1000}"
messages="${2:-200}"
rate="${3:-100}"

dir="$(mktemp -d /tmp/chat-bench-XXXXXX)"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
gw=$(port); nats=$(port); guild=$(port); store=$(port); chatd=$(port)
cat >"$dir/chat.toml" <<TOML
data_dir = "$dir/var"
[log]
level = "warning"
[nats]
url = "nats://127.0.0.1:$nats"
[chatd]
listen = "127.0.0.1:$chatd"
[gateway]
listen = "127.0.0.1:$gw"
[guild]
listen = "127.0.0.1:$guild"
[store]
listen = "127.0.0.1:$store"
TOML

"$bin/chatd" --config "$dir/chat.toml" 2>"$dir/chatd.log" &
chatd_pid=$!
cleanup() { kill -TERM "$chatd_pid" 2>/dev/null; wait "$chatd_pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT

# Ready when gatewayd answers /readyz (it starts last).
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$gw/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
gw_pid=$("$bin/chatctl" --config "$dir/chat.toml" --json status |
  python3 -c 'import sys,json; print([c["pid"] for c in map(json.loads, sys.stdin) if c["name"]=="gatewayd"][0])')

echo "gatewayd $("$bin/gatewayd" --help >/dev/null 2>&1 && echo ok) pid $gw_pid; $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
"$bin/chat_loadgen" --url "http://127.0.0.1:$gw" --token-file "$dir/var/admin.token" \
  --sessions "$sessions" --messages "$messages" --rate "$rate" --gateway-pid "$gw_pid"
