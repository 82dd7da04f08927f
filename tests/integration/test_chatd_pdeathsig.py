#!/usr/bin/python3
"""chatd's children do not outlive chatd, even when it is killed with SIGKILL.

chatd cannot stop its children when it is killed with SIGKILL, and each child runs in a
process group of its own, so nothing would reach them: they would keep the ports, the
bus and the RocksDB lock, and a new chatd could not start. Each child asks the kernel
for SIGTERM when its parent dies (PR_SET_PDEATHSIG), so they drain and exit.

1. chatd starts nats-server and the daemons; every pid it reports is a child of chatd
   (/proc/<chatd>/task/*/children), and chatd has no other children.
2. SIGKILL to chatd: within a bound every one of those processes is gone, and every port
   of the config can be bound again.

Needs chatd, the daemons in $CHAT_BIN and nats-server; skips otherwise.
"""

import os
import signal
import socket
import sys
import time

import chattest
from chattest import ChatTestError, log

GONE_BOUND_S = 15  # SIGTERM -> drain -> exit; the daemons' drains are bounded well below


def check(cond, what):
    if not cond:
        raise ChatTestError(what)


def proc_children(pid):
    """The pids of pid's children, from every thread's children list."""
    out = set()
    for task in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                out.update(int(p) for p in f.read().split())
        except OSError:
            pass
    return out


def port_free(port):
    """Whether a listener could bind 127.0.0.1:port now (as the daemons do, SO_REUSEADDR
    set, so a connection in TIME_WAIT does not count as taken)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(1)
        return True
    except OSError:
        return False
    finally:
        s.close()


def main():
    chattest.require_programs("chatd", *chattest.DAEMONS)
    with chattest.TestDir() as tmp:
        cfg = chattest.write_config(tmp)
        with chattest.Chatd(cfg) as chatd:
            status = chatd.wait_running(timeout=60)
            names = [c["name"] for c in status]
            check(names == ["nats-server"] + list(chattest.DAEMONS), "children: %r" % names)
            pids = {c["pid"]: c["name"] for c in status}
            starts = {pid: chattest.proc_start_time(pid) for pid in pids}
            check(all(starts.values()), "every child alive before the kill: %r" % starts)
            kids = proc_children(chatd.pid)
            check(kids == set(pids), "chatd's children %r are the ones it reports %r" %
                  (sorted(kids), pids))
            log("running: " + ", ".join("%s=%d" % (n, p) for p, n in pids.items()))

            chatd.signal(signal.SIGKILL)
            chatd.wait_exit(10)
            killed = time.monotonic()

            def left():
                return [
                    "%s pid %d" % (name, pid)
                    for pid, name in pids.items()
                    if chattest.process_alive(pid, starts[pid])
                ]

            try:
                chattest.wait_for(lambda: not left(), GONE_BOUND_S,
                                  "chatd's children to exit after chatd's SIGKILL")
            except ChatTestError:
                raise ChatTestError("still running %ds after chatd's SIGKILL: %s" %
                                    (GONE_BOUND_S, ", ".join(left())))
            log("ok: all %d children gone %.1fs after chatd's SIGKILL" %
                (len(pids), time.monotonic() - killed))

            ports = dict(cfg.ports)
            busy = lambda: [n for n, p in ports.items() if not port_free(p)]
            try:
                chattest.wait_for(lambda: not busy(), 5, "the config's ports to be free")
            except ChatTestError:
                raise ChatTestError("ports still taken: %r" % {n: ports[n] for n in busy()})
            log("ok: ports free again: %r" % ports)
    log("PASS")


if __name__ == "__main__":
    try:
        main()
    except ChatTestError as e:
        print("FAIL: %s" % e, flush=True)
        sys.exit(1)
