#!/bin/sh
# Presence storm (bench/README.md "Presence storm"): a nats-server and a presenced of
# their own on free loopback ports, then presence_storm against them.
#   bench/presence/run.sh BUILD_DIR [presence_storm options...]
# Config knobs of presenced can be given as PRESENCE_SET="presence.key=value ..." .
set -eu
build=${1:?usage: run.sh BUILD_DIR [options]}
shift
bin="$build/bin"
tmp=$(mktemp -d /tmp/presence-bench.XXXXXX)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
nats_port=$(port)
admin_port=$(port)
lease_ms=15000
cat > "$tmp/chat.toml" <<TOML
data_dir = "$tmp/var"
[log]
level = "notice"
[nats]
url = "nats://127.0.0.1:$nats_port"
spawn = false
[presence]
listen = "127.0.0.1:$admin_port"
lease_timeout_ms = $lease_ms
TOML
nats=$(command -v nats-server || echo /usr/sbin/nats-server)
"$nats" -a 127.0.0.1 -p "$nats_port" ${NATS_FLAGS:-} >"$tmp/nats.log" 2>&1 &
nats_pid=$!
sets=""
for kv in ${PRESENCE_SET:-}; do sets="$sets --set $kv"; done
trap 'kill $presenced_pid $nats_pid 2>/dev/null; wait 2>/dev/null; [ -n "${BENCH_KEEP:-}" ] || rm -rf "$tmp"' EXIT
sleep 0.3
# shellcheck disable=SC2086
"$bin/presenced" --config "$tmp/chat.toml" $sets >"$tmp/presenced.log" 2>&1 &
presenced_pid=$!
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$admin_port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
"$bin/presence_storm" --nats "nats://127.0.0.1:$nats_port" \
  --lease-ms "$lease_ms" --presenced-pid "$presenced_pid" "$@"
grep -E 'lease expired|<4>|<3>' "$tmp/presenced.log" | head -5 || true
grep -iE 'slow|error' "$tmp/nats.log" | head -5 || true
