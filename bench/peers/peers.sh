#!/usr/bin/env bash
# Starts and stops the peers of the fan-out comparison (bench/README.md, "Gateway fan-out
# vs peers") from the configs in this folder, adapted from ../shared/peers/. Meant to run
# inside the benchmark's network namespace (bench/run_comparison.sh does that): the
# configs use fixed loopback ports, and mosquitto's WebSocket listener binds every
# interface whatever its bind address says.
#
#   peers.sh start nats|mosquitto|ejabberd RUNDIR   waits until it serves, prints its pid(s)
#   peers.sh stop  nats|mosquitto|ejabberd RUNDIR   stops what `start` started in RUNDIR
#
# ejabberd: ejabberdctl would `su` to the ejabberd user, and PAM's pam_limits would drop
# the open-file limit; we switch user with setpriv instead (no PAM, limits kept) and give
# it its own config, spool, logs and HOME (for the Erlang cookie) under RUNDIR.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cmd="${1:?start|stop}"
name="${2:?nats|mosquitto|ejabberd}"
run="${3:?RUNDIR}"
mkdir -p "$run"

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

ejctl() {
  HOME="$run/ejabberd" setpriv --reuid=ejabberd --regid=ejabberd --init-groups \
    ejabberdctl --ctl-config "$run/ejabberd/ejabberdctl.cfg" --config "$run/ejabberd/ejabberd.yml" \
    --spool "$run/ejabberd/spool" --logs "$run/ejabberd/logs" --node ejabberd@localhost "$@"
}

case "$cmd:$name" in
  start:nats)
    nats-server -c "$here/nats.conf" >"$run/nats.log" 2>&1 &
    echo $! >"$run/nats.pid"
    wait_port 8443 20
    cat "$run/nats.pid"
    ;;
  stop:nats)
    stop_pid "$run/nats.pid"
    ;;
  start:mosquitto)
    mosquitto -c "$here/mosquitto.conf" >"$run/mosquitto.log" 2>&1 &
    echo $! >"$run/mosquitto.pid"
    wait_port 9001 20
    cat "$run/mosquitto.pid"
    ;;
  stop:mosquitto)
    stop_pid "$run/mosquitto.pid"
    ;;
  start:ejabberd)
    d="$run/ejabberd"
    rm -rf "$d"
    mkdir -p "$d/spool" "$d/logs" "$d/run"
    cp "$here/ejabberd/ejabberd.yml" "$d/ejabberd.yml"
    sed "s#PEERDIR#$d#g" "$here/ejabberd/ejabberdctl.cfg" >"$d/ejabberdctl.cfg"
    chown -R ejabberd:ejabberd "$d"
    ejctl start >/dev/null 2>&1 </dev/null
    if ! ejctl started >/dev/null 2>&1; then
      echo "peers.sh: ejabberd did not start; see $d/logs" >&2
      exit 1
    fi
    wait_port 5280 60
    cat "$d/run/ejabberd.pid"
    ;;
  stop:ejabberd)
    d="$run/ejabberd"
    [ -d "$d" ] || exit 0
    ejctl stop >/dev/null 2>&1 || true
    ejctl stopped >/dev/null 2>&1 || true
    stop_pid "$d/run/ejabberd.pid"
    # epmd was started by our erl in this namespace; ask it to exit.
    HOME="$d" setpriv --reuid=ejabberd --regid=ejabberd --init-groups epmd -kill >/dev/null 2>&1 || true
    ;;
  *)
    echo "usage: peers.sh start|stop nats|mosquitto|ejabberd RUNDIR" >&2
    exit 64
    ;;
esac
