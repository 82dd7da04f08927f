#!/usr/bin/python3
"""op 8 paging for a large guild carries on across a dropped connection and a RESUME,
through the real daemon set under chatd, with raw WebSocket sessions (python3-websocket).

Guild BIG: the admin, bot B and 20,000 users written in bulk (20,002 members: 21 chunks
of about 430 KB). B's sessions IDENTIFY with large_threshold 50 and connect with a small
SO_RCVBUF, so that gatewayd's paging (the next page only once the client has read most of
what is queued) is still going when the client drops its connection after reading the
first chunk: the kernel's buffers and gatewayd's queue bound hold a few MB, not all 9 MB.
Each drop is followed by a wait for gatewayd to count it (chat_gatewayd_closes_total
{reason="dropped"}), so that the RESUME finds the session detached, not still connected.

1. Several rounds on one session: op 8 (query "", limit 0, a nonce per round), read
   chunk 0, drop the TCP connection without a close frame, RESUME on a new connection
   with the last seq. Every dispatch has the next sequence number; the chunks missed are
   replayed before RESUMED and the rest are paged after it; over both connections every
   chunk_index 0..chunk_count-1 arrives exactly once, chunk_count is the same in all, and
   the member ids over all chunks are exactly BIG's members, none twice. The new
   connection lands on either of gatewayd's two loops (the cross-loop proxy path too).
2. A fresh IDENTIFY is a new session: after a drop mid-paging, a new session of B gets no
   chunk of the old request, and its own op 8 is complete; the old session, RESUMEd after
   that, still gets the rest of its request.
"""

import json
import os
import re
import socket
import sys
import time

import chattest
from bulk_members import restart_guildd, write_members

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_gateway_api import check, rest  # noqa: E402
from test_presence_gateway import Session  # noqa: E402

GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
INTENTS = GUILDS | GUILD_MEMBERS

BULK = 20000
BASE = 1 << 50
ROUNDS = 4
RCVBUF = 16384  # small: the kernel holds little of what gatewayd sends while we don't read


class SmallBufferSession(Session):
    """A Session whose socket gets a small receive buffer before it connects."""

    def __init__(self, port):
        import websocket
        self.ws = websocket.create_connection(
            "ws://127.0.0.1:%d/gateway?v=10&encoding=json" % port, timeout=1,
            sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF),))
        self.inflater = None
        self.buffer = b""
        self.seq = None
        self.last_beat = time.monotonic()


def identify(port, token):
    s = SmallBufferSession(port)
    check(s.recv_wait(10)["op"] == 10, "HELLO")
    s.identify(token, INTENTS, {"large_threshold": 50})
    ready = s.until(lambda m: m.get("t") == "READY", 20, "READY")
    for _ in ready["d"]["guilds"]:
        s.until(lambda m: m.get("t") == "GUILD_CREATE", 20, "GUILD_CREATE")
    return s, ready["d"]["session_id"]


def start_request(s, big, nonce):
    """op 8 for every member of BIG; returns chunk 0 once read."""
    s.send({"op": 8, "d": {"guild_id": big, "query": "", "limit": 0, "nonce": nonce}})
    m = s.until(lambda m: m.get("t") == "GUILD_MEMBERS_CHUNK", 30, "chunk 0 of " + nonce)
    chattest.log("%s: chunk 0 of %d is %d bytes" % (nonce, m["d"]["chunk_count"],
                                                   len(json.dumps(m))))
    check(m["d"].get("nonce") == nonce and m["d"]["chunk_index"] == 0,
          "the first chunk is chunk 0 of %s: %r" % (nonce, m["d"]["chunk_index"]))
    return m["d"]


def drops(port):
    """gatewayd's count of sessions whose connection dropped (close 1006)."""
    # The loop may be building a ~430 KB chunk (seconds under ASan): wait for it.
    status, body = chattest.http_get("127.0.0.1", port, "/metrics", timeout=30)
    check(status == 200, "gateway /metrics: %s" % status)
    m = re.search(r'^chat_gatewayd_closes_total\{reason="dropped"\} ([0-9.e+]+)$', body, re.M)
    return float(m.group(1)) if m else 0.0


def drop(s, port):
    """Drops the connection without a close frame, and waits until gatewayd has seen it
    (the session is detached), so that the RESUME does not find it still connected."""
    before = drops(port)
    s.drop()
    chattest.wait_for(lambda: drops(port) > before, 30, "gatewayd to see the dropped connection")


def resume(port, token, session_id, seq):
    # A normal receive buffer: the replay comes in one burst, a few MB of chunks, which a
    # small window would leave queued in gatewayd past gateway.max_queue_bytes.
    s = Session(port)
    check(s.recv_wait(10)["op"] == 10, "HELLO before RESUME")
    s.send({"op": 6, "d": {"token": token, "session_id": session_id, "seq": seq}})
    return s


def rest_of_request(s, seq, nonce, count, timeout=60):
    """After a RESUME from `seq`: the dispatches up to the last chunk of `nonce`, each with
    the next sequence number. Returns (chunks replayed before RESUMED, chunks after)."""
    before, after, resumed = [], [], False
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        check(left > 0, "%s: the last chunk within %ds (got %r before RESUMED, %r after)"
              % (nonce, timeout, [c["chunk_index"] for c in before],
                 [c["chunk_index"] for c in after]))
        m = s.until(lambda m: True, left, "the rest of " + nonce)
        check(m["s"] == seq + 1, "%s: sequence %s after %s" % (nonce, m["s"], seq))
        seq = m["s"]
        if m["t"] == "RESUMED":
            check(not resumed, "%s: one RESUMED" % nonce)
            resumed = True
            continue
        if m["t"] != "GUILD_MEMBERS_CHUNK" or m["d"].get("nonce") != nonce:
            continue
        (after if resumed else before).append(m["d"])
        check(len(before) + len(after) < count, "%s: no more than %d chunks" % (nonce, count))
        if m["d"]["chunk_index"] + 1 == m["d"]["chunk_count"]:
            break
    while not resumed:  # the last chunk went out before the drop: replayed before RESUMED
        m = s.until(lambda m: True, max(1, deadline - time.monotonic()), "RESUMED")
        check(m["s"] == seq + 1, "%s: sequence %s after %s" % (nonce, m["s"], seq))
        seq = m["s"]
        check(m["t"] != "GUILD_MEMBERS_CHUNK" or m["d"].get("nonce") != nonce,
              "%s: no chunk after the last one" % nonce)
        resumed = m["t"] == "RESUMED"
    return before, after


def check_complete(nonce, first, before, after, expected):
    """Chunk 0 plus the chunks of the RESUMEd connection: the whole member list, once."""
    chunks = [first] + before + after
    count = first["chunk_count"]
    indexes = [c["chunk_index"] for c in chunks]
    check(count == (len(expected) + 999) // 1000, "%s: chunk_count %d for %d members"
          % (nonce, count, len(expected)))
    check(indexes == list(range(count)), "%s: chunk indexes 0..%d once each, in order: %r"
          % (nonce, count - 1, indexes))
    check(all(c["chunk_count"] == count for c in chunks), "%s: chunk_count %d in every chunk"
          % (nonce, count))
    ids = [m["user"]["id"] for c in chunks for m in c["members"]]
    check(len(ids) == len(set(ids)), "%s: no member twice (%d ids, %d distinct)"
          % (nonce, len(ids), len(set(ids))))
    check(set(ids) == expected, "%s: exactly the guild's members (%d missing, %d extra)"
          % (nonce, len(expected - set(ids)), len(set(ids) - expected)))


def check_rounds(port, bot, big, expected):
    s, session_id = identify(port, bot["token"])
    for rnd in range(ROUNDS):
        nonce = "round%d" % rnd
        first = start_request(s, big, nonce)
        seq = s.seq
        drop(s, port)
        s = resume(port, bot["token"], session_id, seq)
        before, after = rest_of_request(s, seq, nonce, first["chunk_count"])
        check_complete(nonce, first, before, after, expected)
        chattest.log("ok: %s: chunk 0, then %d replayed before RESUMED and %d paged after it"
                     % (nonce, len(before), len(after)))
    s.close()


def check_fresh_identify(port, bot, big, expected):
    old, old_id = identify(port, bot["token"])
    first = start_request(old, big, "old")
    seq = old.seq
    drop(old, port)

    s, new_id = identify(port, bot["token"])
    check(new_id != old_id, "a fresh IDENTIFY is a new session")
    stray = [m for m in s.drain_for(1.0) if m.get("t") == "GUILD_MEMBERS_CHUNK"]
    check(not stray, "the new session gets no chunk of the old one's request: %r"
          % [(m["d"].get("nonce"), m["d"]["chunk_index"]) for m in stray])
    mine = [start_request(s, big, "new")]
    while mine[-1]["chunk_index"] + 1 < mine[-1]["chunk_count"]:
        m = s.until(lambda m: m.get("t") == "GUILD_MEMBERS_CHUNK", 30, "the new request")
        check(m["d"].get("nonce") == "new", "only the new request's chunks: %r"
              % m["d"].get("nonce"))
        mine.append(m["d"])
    check_complete("new", mine[0], mine[1:], [], expected)
    chattest.log("ok: the new session's own request: %d chunks" % len(mine))
    s.close()

    old = resume(port, bot["token"], old_id, seq)
    before, after = rest_of_request(old, seq, "old", first["chunk_count"])
    check_complete("old", first, before, after, expected)
    chattest.log("ok: old: chunk 0, then %d replayed before RESUMED and %d paged after it"
                 % (len(before), len(after)))
    old.close()
    chattest.log("ok: a fresh IDENTIFY carries nothing over; the old session resumes its own")


def main():
    chattest.require_programs("chatd", *chattest.DAEMONS)
    try:
        import websocket  # noqa: F401
    except ImportError:
        chattest.skip("python3-websocket is not installed")
    with chattest.TestDir("chat-op8resume-") as tmp:
        # Two gateway loops, so that a RESUME lands on either; guildd's restart with the
        # bulk members may be slow on a busy machine.
        cfg = chattest.write_config(tmp, {"store": {"sync": "none"}, "gateway": {"threads": 2},
                                          "chatd": {"ready_timeout_ms": 120000}})
        with chattest.Chatd(cfg) as chatd:
            chatd.wait_running(60)
            chatd.wait_ready_http(30)
            port = cfg.ports["gateway"]
            with open(os.path.join(cfg.data_dir, "admin.token")) as f:
                admin = f.read().strip()
            status, me, _ = rest(port, "GET", "/users/@me", admin)
            check(status == 200, "admin user")
            status, bot, _ = rest(port, "POST", "/admin/users", admin,
                                  {"name": "pager", "bot": True})
            check(status == 200 and bot.get("token"), "create the bot: %s %r" % (status, bot))
            status, g, _ = rest(port, "POST", "/guilds", admin, {"name": "big"})
            check(status in (200, 201), "create the guild: %s %r" % (status, g))
            big = g["id"]
            status, _, _ = rest(port, "PUT", "/guilds/%s/members/%s" % (big, bot["id"]), admin)
            check(status in (200, 201, 204), "add the bot: %s" % status)

            ids = write_members(cfg.ports["nats"], [big], BULK, BASE, "big")
            restart_guildd(chatd, cfg, 180)
            chattest.wait_for(lambda: rest(port, "GET", "/users/@me", bot["token"])[0] == 200,
                              20, "REST through the restarted guildd")
            expected = {str(u) for u in ids} | {me["id"], bot["id"]}

            check_rounds(port, bot, big, expected)
            check_fresh_identify(port, bot, big, expected)
            chatd.stop()
    chattest.log("PASS")


if __name__ == "__main__":
    main()
