"""stored over a real bus: a nats-server of our own, stored with a temp config, and this
script speaking NATS (nats_mini) and msgpack (msgpack_mini) to chat.store.<shard>.

Checks: appends then history pages newest first (before/after/around), get/put/delete,
directory ops; malformed requests (truncated msgpack, garbage, newer version, unknown op)
get a 400 and stored stays up; writes are group-committed (mean batch > 1 when requests
are pipelined); kill -9 during a stream of appends, restart: every append that got a 200
is there; a different store.bucket_days is refused with exit 78; SIGTERM exits 0.
"""

import os
import signal
import socket
import subprocess
import sys
import time

import chattest
from msgpack_mini import packb, unpackb
from nats_mini import NatsClient

EPOCH = 1420070400000
DAY = 86400000


def snowflake(unix_ms, seq=0):
    return ((unix_ms - EPOCH) << 22) | seq


def check(cond, what):
    if not cond:
        raise AssertionError(what)


class Stored:
    """One stored process with NOTIFY_SOCKET readiness and its log in a file."""

    started = []  # every instance, so the test's cleanup kills whatever is left

    def __init__(self, tmp, cfg, args=()):
        self.tmp, self.cfg, self.args = tmp, cfg, list(args)
        self.proc = None
        self.log_path = os.path.join(tmp, "stored.log")

    def start(self, wait_ready=True):
        notify_path = os.path.join(self.tmp, "notify.sock")
        if os.path.exists(notify_path):
            os.unlink(notify_path)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(notify_path)
        env = dict(os.environ, NOTIFY_SOCKET=notify_path)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [chattest.program("stored"), "--config", self.cfg.path] + self.args,
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        Stored.started.append(self)
        if wait_ready:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("stored exited with %d before READY=1\n%s"
                                     % (self.proc.returncode, self.log_tail()))
            self.notify.settimeout(0.1)
            try:
                msg = self.notify.recv(4096).decode()
            except socket.timeout:
                continue
            if "READY=1" in msg.split("\n"):
                return
        raise AssertionError("stored not ready after %.0fs\n%s" % (timeout, self.log_tail()))

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout=30.0):
        try:
            return self.proc.wait(timeout)
        finally:
            self.notify.close()
            self.log.close()

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()


def store_request(nc, req, timeout=5.0):
    req.setdefault("v", 1)
    return unpackb(nc.request("chat.store.0", packb(req), timeout))


def message(channel, mid, content=None):
    return {"id": mid, "channel_id": channel, "guild_id": 1, "author_id": 2,
            "author_name": "tester", "content": content or "msg %d" % mid}


def metric(body, name):
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def ops_and_bad_input(nc, cfg, stored):
    channel = 4242
    t0 = 1600000000000
    # Messages over several days (buckets of one day), with empty days and a year apart.
    ids = [snowflake(t0 + d * DAY + i * 1000, i) for d in (0, 1, 3, 400) for i in range(5)]
    r = store_request(nc, {"op": "msg.append",
                           "messages": [message(channel, i) for i in ids[:10]]})
    check(r["status"] == 200, "append: %r" % r)
    for i in ids[10:]:
        r = store_request(nc, {"op": "msg.append", "messages": [message(channel, i)]})
        check(r["status"] == 200 and r["count"] == 1, "append one: %r" % r)

    page = lambda **kw: [m["id"] for m in store_request(
        nc, dict({"op": "msg.page", "channel_id": channel}, **kw))["messages"]]
    newest = sorted(ids, reverse=True)
    check(page(limit=5) == newest[:5], "latest page")
    check(page(limit=100) == newest, "whole channel newest first")
    check(page(before=ids[10], limit=3) == [ids[9], ids[8], ids[7]], "before")
    check(page(after=ids[3], limit=3) == [ids[6], ids[5], ids[4]], "after, newest first")
    check(page(around=ids[10], limit=4) == [ids[11], ids[10], ids[9], ids[8]], "around")

    r = store_request(nc, {"op": "msg.get", "channel_id": channel, "message_id": ids[2]})
    check(r["status"] == 200 and r["messages"][0]["content"] == "msg %d" % ids[2], "get")
    r = store_request(nc, {"op": "msg.put", "messages": [message(channel, ids[2], "edited")]})
    check(r["status"] == 200, "put: %r" % r)
    r = store_request(nc, {"op": "msg.get", "channel_id": channel, "message_id": ids[2]})
    check(r["messages"][0]["content"] == "edited", "edit visible")
    r = store_request(nc, {"op": "msg.put", "messages": [message(channel, ids[2] + 1, "x")]})
    check(r["status"] == 404, "put of a missing message is 404")
    r = store_request(nc, {"op": "msg.delete", "channel_id": channel, "ids": [ids[0], 1]})
    check(r["status"] == 200 and r["count"] == 1, "delete counts existing: %r" % r)
    r = store_request(nc, {"op": "msg.get", "channel_id": channel, "message_id": ids[0]})
    check(r["status"] == 404, "deleted message is gone")

    r = store_request(nc, {"op": "dir.put", "entries": [{"key": "g/1", "value": "one"},
                                                        {"key": "g/2", "value": "two"}]})
    check(r["status"] == 200, "dir.put")
    r = store_request(nc, {"op": "dir.get", "keys": ["g/2"]})
    check(r["entries"] == [{"key": "g/2", "value": "two"}], "dir.get: %r" % r)
    r = store_request(nc, {"op": "dir.scan", "prefix": "g/"})
    check([e["key"] for e in r["entries"]] == ["g/1", "g/2"], "dir.scan")
    r = store_request(nc, {"op": "dir.del", "keys": ["g/1"]})
    check(r["status"] == 200, "dir.del")
    check(store_request(nc, {"op": "dir.get", "keys": ["g/1"]})["status"] == 404, "dir gone")
    r = store_request(nc, {"op": "stats", "channel_id": channel})
    check(r["status"] == 200 and '"messages":19' in r["text"], "stats: %r" % r)

    # Bad input: each is answered 400 and stored stays up.
    good = packb({"v": 1, "op": "msg.page", "channel_id": channel, "limit": 5})
    bad_bodies = [good[:-3], good[:1], b"\xc1garbage", b"",
                  packb({"v": 99, "op": "msg.page", "channel_id": channel, "limit": 5}),
                  packb({"v": 1, "op": "msg.frobnicate"}),
                  packb({"v": 1, "op": "msg.page", "channel_id": channel, "limit": 0}),
                  packb({"v": 1, "op": "msg.page", "channel_id": channel, "limit": 101}),
                  packb({"v": 1, "op": "msg.get", "channel_id": 0, "message_id": 5}),
                  packb({"v": 1, "op": "msg.append", "messages": [message(channel, 0)]}),
                  packb({"v": 1, "op": "msg.page", "channel_id": "not a number"})]
    for body in bad_bodies:
        r = unpackb(nc.request("chat.store.0", body, 5.0))
        check(r["status"] == 400 and r["error"], "bad body %r answered %r" % (body[:20], r))
        check(stored.alive(), "stored died on %r" % body[:20])
    check(page(limit=2) == newest[:2], "still serving after bad input")

    status, body = chattest.http_get("127.0.0.1", cfg.ports["store"], "/metrics")
    check(status == 200, "metrics")
    check(metric(body, "chat_stored_bad_requests_total") >= len(bad_bodies), "bad counter")
    check(metric(body, "chat_stored_reads_total") > 0, "reads counter")
    status, _ = chattest.http_get("127.0.0.1", cfg.ports["store"], "/readyz")
    check(status == 200, "readyz")
    chattest.log("ops and bad input: ok")


def pipelined_appends(nc, channel, first_ms, count, window):
    """Sends `count` one-message appends with up to `window` in flight; returns acked ids."""
    acked, pending, sent = [], {}, 0
    while sent < count or pending:
        while sent < count and len(pending) < window:
            mid = snowflake(first_ms + sent * 7, sent % 4096)
            reply = nc.new_reply()
            nc.publish("chat.store.0", packb({"v": 1, "op": "msg.append",
                                              "messages": [message(channel, mid)]}), reply)
            pending[reply] = mid
            sent += 1
        msg = nc.next_msg(10.0)
        check(msg is not None, "no append reply within 10 s")
        mid = pending.pop(msg[0], None)
        if mid is not None and unpackb(msg[2])["status"] == 200:
            acked.append(mid)
    return acked


def group_commit(nc, cfg):
    before = chattest.http_get("127.0.0.1", cfg.ports["store"], "/metrics")[1]
    acked = pipelined_appends(nc, 777, 1650000000000, 600, 64)
    check(len(acked) == 600, "all pipelined appends acked")
    after = chattest.http_get("127.0.0.1", cfg.ports["store"], "/metrics")[1]
    writes = metric(after, "chat_stored_writes_total") - metric(before, "chat_stored_writes_total")
    commits = (metric(after, "chat_stored_commits_total")
               - metric(before, "chat_stored_commits_total"))
    chattest.log("group commit: %d writes in %d commits (mean batch %.1f)"
                 % (writes, commits, writes / max(commits, 1)))
    check(writes == 600, "writes counted")
    check(commits < writes, "writes were grouped into fewer commits")


def kill_during_appends(tmp, cfg, stored, nc):
    channel = 999
    # A stream of one-message appends with 32 in flight; kill -9 once 300 were acked,
    # while the window is still full, then collect what stored answered before it died.
    acked, inflight, sent, killed = [], {}, 0, False
    while True:
        while not killed and len(inflight) < 32:
            mid = snowflake(1660000000000 + sent * 7, sent % 4096)
            reply = nc.new_reply()
            nc.publish("chat.store.0", packb({"v": 1, "op": "msg.append",
                                              "messages": [message(channel, mid)]}), reply)
            inflight[reply] = mid
            sent += 1
        msg = nc.next_msg(1.0 if killed else 10.0)
        if msg is None:
            check(killed, "no append reply within 10 s")
            break  # killed, and the bus has gone quiet: every reply sent has arrived
        mid = inflight.pop(msg[0], None)
        if mid is not None and unpackb(msg[2])["status"] == 200:
            acked.append(mid)
        if not killed and len(acked) >= 300:
            stored.proc.send_signal(signal.SIGKILL)
            stored.proc.wait()
            killed = True
    chattest.log("kill -9: %d appends acked, %d unanswered" % (len(acked), len(inflight)))

    stored2 = Stored(tmp, cfg).start()
    present, before = set(), None
    while True:
        req = {"op": "msg.page", "channel_id": channel, "limit": 100}
        if before:
            req["before"] = before
        r = store_request(nc, req)
        check(r["status"] == 200, "page after restart: %r" % r)
        if not r["messages"]:
            break
        ids = [m["id"] for m in r["messages"]]
        check(ids == sorted(ids, reverse=True), "pages newest first")
        present.update(ids)
        before = ids[-1]
    missing = [m for m in acked if m not in present]
    check(not missing, "%d acked appends lost after kill -9, e.g. %r" % (len(missing), missing[:3]))
    chattest.log("kill -9 then restart: all %d acked appends present (%d stored)"
                 % (len(acked), len(present)))
    return stored2


def main():
    chattest.require_programs("stored")
    with chattest.TestDir("chat-stored-") as tmp:
        cfg = chattest.write_config(tmp, {"store": {"bucket_days": 1, "sync": "batch"},
                                          "nats": {"spawn": False}, "log": {"level": "info"}})
        nats = subprocess.Popen([chattest.find_nats_server(), "-a", "127.0.0.1",
                                 "-p", str(cfg.ports["nats"])],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stored = None
        try:
            chattest.wait_for(lambda: socket.create_connection(
                ("127.0.0.1", cfg.ports["nats"]), 0.5).close() or True, 10, "nats-server")
            stored = Stored(tmp, cfg).start()
            nc = NatsClient("127.0.0.1", cfg.ports["nats"])
            ops_and_bad_input(nc, cfg, stored)
            group_commit(nc, cfg)
            stored = kill_during_appends(tmp, cfg, stored, nc)

            stored.proc.send_signal(signal.SIGTERM)
            code = stored.wait_exit(30)
            check(code == 0, "SIGTERM: exit %d\n%s" % (code, stored.log_tail()))
            chattest.log("SIGTERM: exit 0")

            wrong = Stored(tmp, cfg, ["--set", "store.bucket_days=2"]).start(wait_ready=False)
            code = wrong.wait_exit(30)
            check(code == 78, "bucket_days mismatch: exit %d" % code)
            check("fixed once data exists" in wrong.log_tail(), "mismatch explained")
            chattest.log("bucket_days mismatch: refused with exit 78")
            nc.close()
        except BaseException:
            if stored is not None:
                sys.stderr.write("--- stored log ---\n%s\n" % stored.log_tail())
            raise
        finally:
            for s in Stored.started:
                s.kill()
            nats.terminate()
            nats.wait(10)
    chattest.log("PASS")


if __name__ == "__main__":
    main()
