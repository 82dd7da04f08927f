#!/usr/bin/python3
"""chatd supervises the real daemon set: start in order, status, restart, stop.

1. A bad config is one line naming the key and exit 78, before anything starts.
2. chatd starts nats-server, stored, guildd, gatewayd on free loopback ports; the control
   socket reports each running; /healthz, /readyz and /metrics answer.
3. guildd killed with SIGKILL is restarted alone (one_for_one): a new pid, restarts=1,
   running again, the others untouched.
4. nats-server killed with SIGKILL takes the daemons after it down and up again
   (rest_for_one): everything runs again with new pids.
5. SIGTERM: chatd exits 0 within a bound and no process it ever reported is left.
6. "stop" on the control socket does the same.
7. More than `intensity` restarts within `period_s`: chatd stops everything and exits
   non-zero, leaving nothing behind.

Needs chatd, stored, guildd, gatewayd in $CHAT_BIN and nats-server; skips otherwise.
"""

import os
import signal
import subprocess
import sys
import time

import chattest
from chattest import ChatTestError, log

NAMES = ["nats-server"] + list(chattest.DAEMONS)
STOP_BOUND_S = len(NAMES) * 5 + 10  # each child's stop_timeout_ms 5000, and some slack


def check(cond, what):
    if not cond:
        raise ChatTestError(what)


def bad_config(tmp):
    path = os.path.join(tmp, "bad.toml")
    with open(path, "w") as f:
        f.write("[chatd]\nintensity = -3\n")
    r = subprocess.run(
        [chattest.program("chatd"), "--config", path], capture_output=True, text=True,
        timeout=10,
    )
    lines = r.stderr.strip().splitlines()
    check(r.returncode == 78, "bad config: exit %d, expected 78" % r.returncode)
    check(len(lines) == 1 and "chatd.intensity" in lines[0],
          "bad config: expected one line naming chatd.intensity, got %r" % r.stderr)
    log("ok: bad config -> 78: " + lines[0])


def start_and_check(chatd):
    status = chatd.wait_running(timeout=60)
    check([c["name"] for c in status] == NAMES, "children, in order: %r" % status)
    for c in status:
        check(c["pid"] > 0 and chattest.process_alive(c["pid"]), "alive: %r" % c)
        check(c["restarts"] == 0, "no restarts yet: %r" % c)
        check(isinstance(c["uptime_s"], int) and c["uptime_s"] >= 0, "uptime: %r" % c)
        check(set(c) == {"name", "pid", "state", "restarts", "uptime_s"}, "fields: %r" % c)
    log("ok: all running: " + ", ".join("%s=%d" % (c["name"], c["pid"]) for c in status))
    return status


def check_http(chatd):
    chatd.wait_ready_http(timeout=10)
    code, body = chatd.http("/healthz")
    check(code == 200, "/healthz: %d %s" % (code, body))
    code, body = chatd.http("/metrics")
    check(code == 200, "/metrics: %d" % code)
    running = "chat_chatd_children_running %d" % len(NAMES)
    check(running in body, "/metrics %s:\n%s" % (running, body))
    check('chat_chatd_restarts_total{child="guildd"} 0' in body, "/metrics restarts:\n" + body)
    log("ok: /healthz, /readyz, /metrics")


def kill_guildd(chatd, before):
    pids = {c["name"]: c["pid"] for c in before}
    os.kill(pids["guildd"], signal.SIGKILL)

    def restarted(children):
        g = next(c for c in children if c["name"] == "guildd")
        return g["restarts"] == 1 and g["state"] == "running" and g["pid"] not in (0, pids["guildd"])

    chatd.wait_until(restarted, 30, "guildd restarted and running")
    after = chatd.wait_running(timeout=30)
    for c in after:
        if c["name"] != "guildd":
            check(c["pid"] == pids[c["name"]] and c["restarts"] == 0,
                  "one_for_one left %s alone: %r" % (c["name"], c))
    log("ok: guildd %d killed, now %d, restarts=1" %
        (pids["guildd"], chatd.child("guildd")["pid"]))
    code, body = chatd.http("/metrics")
    check('chat_chatd_restarts_total{child="guildd"} 1' in body, "/metrics after restart")
    return after


def kill_nats(chatd, before):
    pids = {c["name"]: c["pid"] for c in before}
    os.kill(pids["nats-server"], signal.SIGKILL)

    def all_new(children):
        return all(c["state"] == "running" and c["pid"] not in (0, pids[c["name"]])
                   for c in children)

    after = chatd.wait_until(all_new, 90, "everything restarted after nats-server died")
    nats = next(c for c in after if c["name"] == "nats-server")
    check(nats["restarts"] == 1, "nats-server restarts=1: %r" % nats)
    log("ok: nats-server killed; rest_for_one restarted all: " +
        ", ".join("%s=%d" % (c["name"], c["pid"]) for c in after))


def give_up(chatd):
    """intensity = 2: the third failure within period_s stops everything, exit non-zero."""
    chatd.wait_running(timeout=60)
    for n in range(3):
        g = chatd.wait_until(
            lambda cs: any(c["name"] == "guildd" and c["state"] == "running" and
                           c["restarts"] == n for c in cs),
            30, "guildd running after %d restarts" % n)
        os.kill(next(c["pid"] for c in g if c["name"] == "guildd"), signal.SIGKILL)
    status = chatd.wait_exit(STOP_BOUND_S)
    check(status == 69, "chatd gave up with status 69 (EX_UNAVAILABLE), not %d" % status)
    chatd.assert_no_children_left()
    check("giving up" in chatd.log_tail(200), "a 'giving up' line in chatd's log")
    log("ok: third failure within period_s -> chatd exit %d, nothing left" % status)


def main():
    chattest.require_programs("chatd", *chattest.DAEMONS)
    with chattest.TestDir() as tmp:
        bad_config(tmp)

        cfg = chattest.write_config(tmp, {"chatd": {"intensity": 10, "period_s": 60}})
        with chattest.Chatd(cfg) as chatd:
            status = start_and_check(chatd)
            check_http(chatd)
            status = kill_guildd(chatd, status)
            kill_nats(chatd, status)
            started = time.monotonic()
            chatd.stop(timeout=STOP_BOUND_S)
            check(not os.path.exists(cfg.control_socket), "control socket removed at exit")
            log("ok: SIGTERM -> exit 0 in %.1fs, nothing left (%d pids checked)" %
                (time.monotonic() - started, len(chatd.seen)))

        with chattest.Chatd(cfg) as chatd:
            chatd.wait_running(timeout=60)
            answer = chattest.control_request(cfg.control_socket, "stop")
            check(answer == ['{"ok":true}'], "stop answer: %r" % answer)
            status = chatd.wait_exit(STOP_BOUND_S)
            check(status == 0, "exit after stop: %d" % status)
            chatd.assert_no_children_left()
            log("ok: control socket stop -> exit 0, nothing left")
        give_up_dir = os.path.join(tmp, "give-up")
        os.mkdir(give_up_dir)
        cfg = chattest.write_config(give_up_dir, {"chatd": {"intensity": 2, "period_s": 60}})
        with chattest.Chatd(cfg) as chatd:
            give_up(chatd)
    log("PASS")


if __name__ == "__main__":
    try:
        main()
    except ChatTestError as e:
        print("FAIL: %s" % e, flush=True)
        sys.exit(1)
