"""Durability of stored with store.sync = "batch": no acknowledged write is ever lost.

Several sender threads, each with its own NATS connection, send one-message msg.append
requests with unique ids (a window of requests in flight each) to chat.store.0 and
record every id answered 200. Meanwhile, 20 times, stored is killed with SIGKILL at a
random moment (after a random number of new acknowledgements) and started again, as a
supervisor would. stored is started directly rather than under chatd: the kill and the
restart are then the test's own, so each round ends exactly when stored is serving again
(chatd would add its backoff and restart-intensity limit to the timing, not to what is
tested). Afterwards every channel is paged through: each acknowledged id is there
exactly once; stored is stopped and RocksDB's own checks pass on the data directory:
`ldb checkconsistency` and `sst_dump --command=verify` (every block's checksum).
"""

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chattest  # noqa: E402
from msgpack_mini import packb, unpackb  # noqa: E402
from nats_mini import NatsClient, NatsError  # noqa: E402
from test_stored_bus import Stored, check, message, snowflake, store_request  # noqa: E402

ROUNDS = 20
SENDERS = 4
WINDOW = 16
CHANNELS = [7001, 7002, 7003]
T0 = 1690000000000


class Sender(threading.Thread):
    """Keeps WINDOW appends in flight; `acked` holds the ids stored answered 200."""

    def __init__(self, index, port):
        super().__init__(daemon=True)
        self.index, self.port = index, port
        self.acked = []
        self.sent = 0
        self.error = None
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def acks(self):
        with self.lock:
            return len(self.acked)

    def run(self):
        try:
            nc = NatsClient("127.0.0.1", self.port, name="sender%d" % self.index)
            pending = {}
            while not self.stop.is_set():
                while len(pending) < WINDOW:
                    # One minute apart per sender: ids unique (the sender is the sequence
                    # number) and spread over many one-day buckets.
                    mid = snowflake(T0 + self.sent * 60000, self.index)
                    channel = CHANNELS[self.sent % len(CHANNELS)]
                    self.sent += 1
                    reply = nc.new_reply()
                    nc.publish("chat.store.0", packb(
                        {"v": 1, "op": "msg.append", "messages": [message(channel, mid)]}),
                        reply)
                    pending[reply] = mid
                msg = nc.next_msg(0.3)
                if msg is None:
                    pending.clear()  # stored is down: these may or may not be stored
                    continue
                mid = pending.pop(msg[0], None)
                if mid is not None and unpackb(msg[2])["status"] == 200:
                    with self.lock:
                        self.acked.append(mid)
            nc.close()
        except (OSError, NatsError, ValueError) as e:
            self.error = e


def page_all(nc, channel):
    ids, before = [], None
    while True:
        req = {"op": "msg.page", "channel_id": channel, "limit": 100}
        if before:
            req["before"] = before
        r = store_request(nc, req, timeout=10.0)
        check(r["status"] == 200, "page: %r" % r)
        if not r["messages"]:
            return ids
        page = [m["id"] for m in r["messages"]]
        check(page == sorted(page, reverse=True), "pages newest first")
        ids.extend(page)
        before = page[-1]


def run_tool(args):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    out = p.stdout.decode("utf-8", "replace")
    check(p.returncode == 0, "%s failed (%d):\n%s" % (" ".join(args), p.returncode, out[-2000:]))
    return out


def main():
    chattest.require_programs("stored")
    for tool in ("ldb", "sst_dump"):
        if not shutil.which(tool):
            chattest.skip("%s not found (package rocksdb-tools)" % tool)
    start = time.monotonic()
    rng = random.Random(int(os.environ.get("CHATTEST_SEED", "0")) or None)
    with chattest.TestDir("chat-stcrash-") as tmp:
        cfg = chattest.write_config(tmp, {"store": {"bucket_days": 1, "sync": "batch"},
                                          "nats": {"spawn": False}, "log": {"level": "notice"}})
        nats = subprocess.Popen([chattest.find_nats_server(), "-a", "127.0.0.1",
                                 "-p", str(cfg.ports["nats"])],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stored = None
        senders = []
        try:
            chattest.wait_for(lambda: socket.create_connection(
                ("127.0.0.1", cfg.ports["nats"]), 0.5).close() or True, 10, "nats-server")
            stored = Stored(tmp, cfg).start()
            senders = [Sender(i, cfg.ports["nats"]) for i in range(SENDERS)]
            for s in senders:
                s.start()
            total = lambda: sum(s.acks() for s in senders)  # noqa: E731
            for round_no in range(1, ROUNDS + 1):
                base = total()
                want = rng.randint(30, 400)
                chattest.wait_for(lambda: total() >= base + want or
                                  any(s.error for s in senders), 20,
                                  "%d acknowledgements in round %d" % (want, round_no))
                stored.proc.send_signal(signal.SIGKILL)
                stored.proc.wait()
                stored.notify.close()
                stored.log.close()
                stored = Stored(tmp, cfg).start()
                chattest.log("round %d: killed after %d new acks (%d in all)"
                             % (round_no, total() - base, total()))
            for s in senders:
                s.stop.set()
            for s in senders:
                s.join(10)
                check(s.error is None, "sender %d: %r" % (s.index, s.error))

            nc = NatsClient("127.0.0.1", cfg.ports["nats"])
            present = []
            for channel in CHANNELS:
                present.extend(page_all(nc, channel))
            nc.close()
            acked = [m for s in senders for m in s.acked]
            seen = {}
            for m in present:
                seen[m] = seen.get(m, 0) + 1
            twice = [m for m, n in seen.items() if n > 1]
            missing = [m for m in acked if m not in seen]
            check(len(set(acked)) == len(acked), "acked ids are unique")
            check(not twice, "%d ids present more than once, e.g. %r" % (len(twice), twice[:3]))
            check(not missing, "%d acknowledged appends lost, e.g. %r"
                  % (len(missing), missing[:3]))
            chattest.log("%d rounds of kill -9: all %d acknowledged appends present exactly "
                         "once (%d stored, %d sent)"
                         % (ROUNDS, len(acked), len(present), sum(s.sent for s in senders)))

            stored.proc.send_signal(signal.SIGTERM)
            code = stored.wait_exit(30)
            check(code == 0, "SIGTERM: exit %d" % code)
            db = os.path.join(cfg.data_dir, "store")
            out = run_tool(["ldb", "--db=" + db, "checkconsistency"])
            check("OK" in out, "ldb checkconsistency: %s" % out)
            run_tool(["sst_dump", "--file=" + db, "--command=verify"])
            chattest.log("ldb checkconsistency: OK; sst_dump verify: OK (%d SST files)"
                         % len([f for f in os.listdir(db) if f.endswith(".sst")]))
        except BaseException:
            if stored is not None:
                sys.stderr.write("--- stored log ---\n%s\n" % stored.log_tail())
            raise
        finally:
            for s in senders:
                s.stop.set()
            for s in Stored.started:
                s.kill()
            nats.terminate()
            nats.wait(10)
    chattest.log("PASS in %.1f s" % (time.monotonic() - start))


if __name__ == "__main__":
    main()
