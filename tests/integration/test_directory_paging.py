#!/usr/bin/python3
"""guildd loads a directory bigger than one bus message: dir.scan is paged.

The daemon set runs under chatd. One guild is made through REST; then 15,000 users and
their memberships of that guild are written straight into stored's directory over the
bus (dir.put on chat.store.0, 1000 records a request), encoded exactly as guildd encodes
them (daemons/guildd/dir_keys.hpp: 'u' user_id, 'm' guild_id user_id, big-endian; values
msgpack proto::User and proto::Member with the fields in their MSGPACK_DEFINE_MAP order),
so that the member records alone are well over NATS's 1 MB max payload.

Checks: stored answers dir.scan of the member kind in bounded pages with `more`, and
paging with start_after returns every record once, in key order; guildd, killed with
SIGKILL and restarted by chatd, loads the whole directory and becomes ready; GET
/guilds/{g}/members?limit=1000&after=... (guildd's member.list) pages through every one
of the 15,000 members in id order; a user written directly authenticates nowhere (no
token) but shows up by name in the member records; chatd stops cleanly.
"""

import http.client
import json
import os
import signal
import struct
import time

import chattest
from msgpack_mini import packb, unpackb
from nats_mini import NatsClient

MEMBERS = 15000
BATCH = 1000  # stored's dir.put bound
MAX_PAYLOAD = 1024 * 1024
BASE_ID = 1 << 50  # ids for the written users, far from the snowflakes guildd makes


def check(cond, what):
    if not cond:
        raise chattest.ChatTestError(what)
    chattest.log("ok: " + what)


def be64(n):
    return struct.pack(">Q", n)


def user_record(uid):
    key = b"u" + be64(uid)
    value = packb({"id": uid, "name": "pg-%d" % uid, "bot": False, "admin": False})
    return {"key": key, "value": value}


def member_record(gid, uid, joined_ms):
    key = b"m" + be64(gid) + be64(uid)
    value = packb({"guild_id": gid, "user_id": uid, "user_name": "pg-%d" % uid,
                   "user_bot": False, "joined_ms": joined_ms, "nick": ""})
    return {"key": key, "value": value}


def store_request(nc, req, timeout=10.0):
    req.setdefault("v", 1)
    return unpackb(nc.request("chat.store.0", packb(req), timeout))


class Rest:
    """REST calls over one keep-alive connection."""

    def __init__(self, port, token):
        self.port, self.token = port, token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def call(self, method, path, body=None):
        headers = {"Authorization": "Bot " + self.token}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (0, 1):
            try:
                self.conn.request(method, "/api/v10" + path, body=data, headers=headers)
                resp = self.conn.getresponse()
                text = resp.read()
                return resp.status, (json.loads(text) if text else None)
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                if attempt:
                    raise

    def close(self):
        self.conn.close()


def write_directory(nc, gid):
    """Writes MEMBERS users and memberships of guild gid; returns their ids and the total
    size of the member records."""
    uids = [BASE_ID + i for i in range(MEMBERS)]
    joined = int(time.time() * 1000)
    member_bytes = 0
    for start in range(0, MEMBERS, BATCH):
        chunk = uids[start:start + BATCH]
        r = store_request(nc, {"op": "dir.put", "entries": [user_record(u) for u in chunk]})
        if r["status"] != 200:
            raise chattest.ChatTestError("dir.put users: %r" % r)
        members = [member_record(gid, u, joined) for u in chunk]
        member_bytes += sum(len(m["key"]) + len(m["value"]) for m in members)
        r = store_request(nc, {"op": "dir.put", "entries": members})
        if r["status"] != 200:
            raise chattest.ChatTestError("dir.put members: %r" % r)
    return uids, member_bytes


def check_store_pages(nc, gid, uids):
    """stored pages the guild's member records: every page fits, all come back once."""
    prefix = b"m" + be64(gid)
    keys, after, pages = [], b"", 0
    while True:
        req = {"op": "dir.scan", "prefix": prefix}
        if after:
            req["start_after"] = after
        raw = nc.request("chat.store.0", packb(dict(req, v=1)), 10.0)
        if len(raw) >= MAX_PAYLOAD:
            raise chattest.ChatTestError("dir.scan page of %d bytes" % len(raw))
        r = unpackb(raw)
        if r["status"] != 200:
            raise chattest.ChatTestError("dir.scan: %r" % r)
        pages += 1
        keys.extend(e["key"] for e in r["entries"])
        if not r.get("more"):
            break
        if not r["entries"] or pages > 1000:
            raise chattest.ChatTestError("dir.scan page with more but no progress: %r" % r)
        after = r["entries"][-1]["key"]
    keys = [k.encode("utf-8") if isinstance(k, str) else k for k in keys]
    got = [struct.unpack(">Q", k[9:17])[0] for k in keys]
    written = set(uids)
    check(pages > 1, "stored answered the member kind in %d pages" % pages)
    check(got == sorted(got) and len(got) == len(set(got)), "pages in key order, no repeats")
    check(written <= set(got), "every written member came back from dir.scan")


def list_members(rest, gid):
    ids, after, calls = [], None, 0
    while True:
        path = "/guilds/%s/members?limit=1000" % gid
        if after:
            path += "&after=%s" % after
        status, page = rest.call("GET", path)
        if status != 200:
            raise chattest.ChatTestError("member list: %s %r" % (status, page))
        calls += 1
        if calls > 100:
            raise chattest.ChatTestError("member list does not end")
        ids.extend(int(m["user"]["id"]) for m in page)
        if len(page) < 1000:
            return ids
        after = page[-1]["user"]["id"]


def main():
    chattest.require_programs("chatd", *chattest.DAEMONS)
    started = time.monotonic()
    with chattest.TestDir("chat-dirpage-") as tmp:
        cfg = chattest.write_config(tmp, {"store": {"sync": "none"}})
        with chattest.Chatd(cfg) as chatd:
            chatd.wait_running(60)
            chatd.wait_ready_http(30)
            with open(os.path.join(cfg.data_dir, "admin.token")) as f:
                token = f.read().strip()
            rest = Rest(cfg.ports["gateway"], token)
            status, guild = rest.call("POST", "/guilds", {"name": "paging"})
            check(status in (200, 201), "guild created: %s" % status)
            gid = int(guild["id"])

            nc = NatsClient("127.0.0.1", cfg.ports["nats"])
            try:
                t0 = time.monotonic()
                uids, member_bytes = write_directory(nc, gid)
                check(member_bytes > MAX_PAYLOAD,
                      "%d member records (%d bytes) written in %.1fs"
                      % (MEMBERS, member_bytes, time.monotonic() - t0))
                check_store_pages(nc, gid, uids)
            finally:
                nc.close()

            old = chatd.child("guildd")
            os.kill(old["pid"], signal.SIGKILL)
            t0 = time.monotonic()
            chatd.wait_until(
                lambda cs: any(c["name"] == "guildd" and c["state"] == "running"
                               and c["pid"] > 0 and c["pid"] != old["pid"] for c in cs),
                30, "guildd restarted by chatd")
            chattest.wait_for(
                lambda: chattest.http_get("127.0.0.1", cfg.ports["guild"], "/readyz")[0] == 200,
                30, "guildd /readyz after the restart")
            check(True, "guildd ready again %.1fs after SIGKILL" % (time.monotonic() - t0))

            # gatewayd's REST may need a moment to see the new guildd on the bus.
            def listed():
                try:
                    return list_members(rest, gid)
                except chattest.ChatTestError:
                    return None
            ids = chattest.wait_for(listed, 20, "the member list after the restart", 0.2)
            check(ids == sorted(ids) and len(ids) == len(set(ids)),
                  "member pages in id order, no repeats (%d members)" % len(ids))
            check(set(uids) <= set(ids), "all %d written members listed" % MEMBERS)
            status, one = rest.call("GET", "/guilds/%s/members/%d" % (gid, uids[-1]))
            check(status == 200 and one["user"]["username"] == "pg-%d" % uids[-1],
                  "the last member by id: %s" % status)
            rest.close()
            chatd.stop()
    check(time.monotonic() - started < 90, "done in %.1fs" % (time.monotonic() - started))


if __name__ == "__main__":
    main()
