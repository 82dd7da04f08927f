#!/usr/bin/env bash
# Starts and stops the peers of the fan-out comparison (bench/README.md, "Gateway fan-out
# vs peers") from the configs in this folder, adapted from ../shared/peers/. Meant to run
# inside the benchmark's network namespace (bench/run_comparison.sh does that): the
# configs use fixed loopback ports, and mosquitto's WebSocket listener binds every
# interface whatever its bind address says.
#
#   peers.sh start nats|mosquitto|ejabberd RUNDIR [INDEX]   waits until it serves, prints its pid
#   peers.sh stop  nats|mosquitto|ejabberd RUNDIR           stops every instance `start` started
#
# INDEX [0] starts one more independent instance (no clustering) next to the others, for
# the idle runs past one process's open-file limit: instance 0 uses the configs as they
# are, instance I a copy under RUNDIR with every port of the config plus I (nats: client
# 4222+I, monitoring 8222+I, WebSocket 8443+I; mosquitto: 1883+I, WebSocket 9001+I;
# ejabberd: WebSocket 5280+I, c2s 5222+I, node ejabberdI@localhost), and its own pid file,
# log and (ejabberd) spool and logs. Keep INDEX below 58 (ejabberd's ports would meet).
#
# ejabberd: ejabberdctl would `su` to the ejabberd user, and PAM's pam_limits would drop
# the open-file limit; we switch user with setpriv instead (no PAM, limits kept) and give
# it its own config, spool, logs and HOME (for the Erlang cookie) under RUNDIR. All its
# nodes in the namespace share one epmd, told to exit when the last node has stopped.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cmd="${1:?start|stop}"
name="${2:?nats|mosquitto|ejabberd}"
run="${3:?RUNDIR}"
index="${4:-0}"
case "$index" in '' | *[!0-9]*) echo "peers.sh: INDEX must be a number, not '$index'" >&2; exit 64 ;; esac
mkdir -p "$run"
# Instance 0 keeps the names of a single run; instance I gets the suffix I.
sfx=""
[ "$index" = 0 ] || sfx=".$index"

wait_port() {  # wait_port PORT SECONDS
  local end=$((SECONDS + $2))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    [ $SECONDS -lt $end ] || { echo "peers.sh: $name: port $1 not open after $2 s" >&2; return 1; }
    sleep 0.2
  done
}

stop_pid() {  # stop_pid PIDFILE: SIGTERM, then wait (10 s, then SIGKILL) until it is gone
  [ -f "$1" ] || return 0
  local pid
  pid="$(cat "$1")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$1"
}

ejctl() {  # ejctl DIR NODE ARGS...: ejabberdctl for the node whose files are in DIR
  local d="$1" node="$2"
  shift 2
  HOME="$d" setpriv --reuid=ejabberd --regid=ejabberd --init-groups \
    ejabberdctl --ctl-config "$d/ejabberdctl.cfg" --config "$d/ejabberd.yml" \
    --spool "$d/spool" --logs "$d/logs" --node "$node" "$@"
}

ej_node() {  # ej_node DIR: the node name of the instance in DIR (ejabberd, ejabberd.I)
  case "${1##*/}" in
    ejabberd) echo ejabberd@localhost ;;
    *) echo "ejabberd${1##*/ejabberd.}@localhost" ;;
  esac
}

conf_copy() {  # conf_copy CONFIG PORT...: CONFIG with each PORT raised by INDEX, into RUNDIR
  local src="$1" dst
  shift
  dst="$run/$(basename "$src")$sfx"
  local expr=() p
  for p in "$@"; do expr+=(-e "s/\b$p\b/$((p + index))/g"); done
  sed "${expr[@]}" "$src" >"$dst"
  echo "$dst"
}

case "$cmd:$name" in
  start:nats)
    conf="$here/nats.conf"
    [ "$index" = 0 ] || conf="$(conf_copy "$conf" 4222 8222 8443)"
    nats-server -c "$conf" >"$run/nats.log$sfx" 2>&1 &
    echo $! >"$run/nats.pid$sfx"
    wait_port $((8443 + index)) 20
    cat "$run/nats.pid$sfx"
    ;;
  stop:nats | stop:mosquitto)
    for f in "$run/$name.pid" "$run/$name.pid".*; do stop_pid "$f"; done
    ;;
  start:mosquitto)
    conf="$here/mosquitto.conf"
    [ "$index" = 0 ] || conf="$(conf_copy "$conf" 1883 9001)"
    mosquitto -c "$conf" >"$run/mosquitto.log$sfx" 2>&1 &
    echo $! >"$run/mosquitto.pid$sfx"
    wait_port $((9001 + index)) 20
    cat "$run/mosquitto.pid$sfx"
    ;;
  start:ejabberd)
    d="$run/ejabberd$sfx"
    rm -rf "$d"
    mkdir -p "$d/spool" "$d/logs" "$d/run"
    sed -e "s/\bport: 5280\b/port: $((5280 + index))/" -e "s/\bport: 5222\b/port: $((5222 + index))/" \
      "$here/ejabberd/ejabberd.yml" >"$d/ejabberd.yml"
    sed "s#PEERDIR#$d#g" "$here/ejabberd/ejabberdctl.cfg" >"$d/ejabberdctl.cfg"
    chown -R ejabberd:ejabberd "$d"
    node="$(ej_node "$d")"
    ejctl "$d" "$node" start >/dev/null 2>&1 </dev/null
    if ! ejctl "$d" "$node" started >/dev/null 2>&1; then
      echo "peers.sh: ejabberd $node did not start; see $d/logs" >&2
      exit 1
    fi
    wait_port $((5280 + index)) 60
    cat "$d/run/ejabberd.pid"
    ;;
  stop:ejabberd)
    last=""
    for d in "$run/ejabberd" "$run/ejabberd".*; do
      [ -d "$d" ] || continue
      node="$(ej_node "$d")"
      ejctl "$d" "$node" stop >/dev/null 2>&1 || true
      ejctl "$d" "$node" stopped >/dev/null 2>&1 || true
      stop_pid "$d/run/ejabberd.pid"
      last="$d"
    done
    [ -n "$last" ] || exit 0
    # epmd was started by our erl in this namespace; ask it to exit.
    HOME="$last" setpriv --reuid=ejabberd --regid=ejabberd --init-groups epmd -kill >/dev/null 2>&1 || true
    ;;
  *)
    echo "usage: peers.sh start|stop nats|mosquitto|ejabberd RUNDIR [INDEX]" >&2
    exit 64
    ;;
esac
