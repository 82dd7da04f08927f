#!/usr/bin/python3
"""The storage operator surface end to end: chatd's daemon set, chatctl's `store stats`,
`store compact`, `store backup`, `channel retention` and `guild retention`, and gatewayd's
/admin/store/* routes and retention_days on PATCH of channels and guilds.

Checks: stats counts what was sent (whole store, and one channel exactly, with its
buckets, including old messages put straight into stored over the bus); compaction
prints bytes before and after; a backup lands under <data_dir>/backups/NAME, and a taken
or bad name is exit 65 with one line on stderr; the admin routes refuse non-admins (403),
no token (401), bad input (400) and wrong methods (405); retention set through chatctl
and REST reads back in the channel and guild JSON; a guild's setting reaches a channel
created afterwards (stored reports it, and its sweep removes that channel's old
messages); once the daemon set is down, store stats exits 69.
"""

import http.client
import json
import os
import pty
import re
import select
import subprocess
import time

import chattest
from msgpack_mini import packb, unpackb
from nats_mini import NatsClient

DAY = 86400000
EPOCH = 1420070400000


def rest(port, method, path, token=None, body=None, raw=None):
    """(status, parsed JSON or None) of one REST call."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        h = {}
        if token is not None:
            h["Authorization"] = "Bot " + token
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        if data is not None:
            h["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        text = resp.read()
        return resp.status, (json.loads(text) if text else None)
    finally:
        conn.close()


def check(cond, what):
    if not cond:
        raise chattest.ChatTestError(what)


def run_tty(ctl, *args, timeout=60.0):
    """chatctl with its stdout on a terminal (a pty), as a person runs it: its text."""
    master, slave = pty.openpty()
    p = subprocess.Popen(ctl.argv(args), stdout=slave, stderr=subprocess.PIPE,
                         env=dict(ctl.env, NO_COLOR="1"))
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        code = p.wait(max(1.0, deadline - time.monotonic()))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
    check(code == 0, "chatctl %s on a terminal: exit %d: %s" % (args, code, p.stderr.read()))
    return out.decode().replace("\r\n", "\n")


def put_old_messages(nc, channel, now_ms, days_ago):
    """Four messages a day on each of `days_ago`, straight into stored; returns the ids."""
    ids = []
    for d in days_ago:
        for i in range(4):
            ids.append(((now_ms - d * DAY + i * 1000 - EPOCH) << 22) | (i + 1))
    msgs = [{"id": m, "channel_id": channel, "guild_id": 1, "author_id": 2,
             "author_name": "old", "content": "old %d" % m} for m in ids]
    r = unpackb(nc.request("chat.store.0", packb({"v": 1, "op": "msg.append",
                                                  "messages": msgs}), 10.0))
    check(r["status"] == 200, "append old messages: %r" % r)
    return ids


def bucket_of(mid, bucket_ms):
    return ((mid >> 22) + EPOCH) // bucket_ms


def check_stats(ctl, alerts, sent_alerts, sent_total, nc):
    whole = ctl.json_lines("--json", "store", "stats")
    check(len(whole) == 1, "one JSON line: %r" % whole)
    s = whole[0]
    for key in ("messages", "buckets", "disk", "levels", "pending_compaction_bytes",
                "block_cache", "write_stalls", "retention"):
        check(key in s, "stats has %s" % key)
    check(s["messages"] == sent_total, "whole-store messages %r, sent %d"
          % (s["messages"], sent_total))
    people = run_tty(ctl, "store", "stats")
    for word in ("messages", "buckets", "disk", "pending compaction", "block cache",
                 "write stalls", "retention"):
        check(word in people, "people's stats name %r:\n%s" % (word, people))
    check(re.search(r"^messages\s+%d " % sent_total, people, re.M), people)

    one = ctl.json_lines("store", "stats", "--channel", "ops/#alerts")[0]  # a pipe: JSON
    check(one["channel_id"] == alerts and one["messages"] == sent_alerts, "one: %r" % one)
    check(len(one["buckets"]) == 1 and one["buckets"][0]["messages"] == sent_alerts, one)

    # Old messages, put straight into stored, in buckets of their own (bucket_days = 1).
    now = int(time.time() * 1000)
    old = put_old_messages(nc, int(alerts), now, [10, 9, 8])
    bucket_ms = one["bucket_ms"]
    expect_buckets = {bucket_of(m, bucket_ms) for m in old} | {one["buckets"][0]["bucket"]}
    one = ctl.json_lines("--json", "store", "stats", "--channel", alerts)[0]
    check(one["messages"] == sent_alerts + len(old), "exact count with old: %r" % one)
    check({b["bucket"] for b in one["buckets"]} == expect_buckets, "buckets: %r" % one)
    check(sum(b["messages"] for b in one["buckets"]) == one["messages"], "bucket sums")
    people = run_tty(ctl, "store", "stats", "--channel", "ops/#alerts")
    check(re.search(r"^messages\s+%d$" % one["messages"], people, re.M), people)
    check(re.search(r"^buckets\s+%d$" % len(expect_buckets), people, re.M), people)
    chattest.log("store stats: %d messages, channel exact (%d in %d buckets)"
                 % (s["messages"], one["messages"], len(expect_buckets)))
    return old


def check_compact(ctl):
    text = run_tty(ctl, "store", "compact", "--channel", "ops/#alerts")
    m = re.search(r"(\d+) -> (\d+) bytes .* in [0-9.]+ s$", text.strip())
    check(m, "compact prints bytes before and after: %r" % text)
    whole = ctl.json_lines("--json", "store", "compact")[0]
    check(whole["before_bytes"] > 0 and whole["after_bytes"] > 0 and whole["channel_id"] == "0",
          "compact: %r" % whole)
    chattest.log("store compact: %s -> %s bytes (one channel); %d -> %d (all)"
                 % (m.group(1), m.group(2), whole["before_bytes"], whole["after_bytes"]))


def check_backup(ctl, cfg):
    path = run_tty(ctl, "store", "backup", "first").strip()
    check(path == os.path.join(cfg.data_dir, "backups", "first"), "path %r" % path)
    check(os.path.exists(os.path.join(path, "CURRENT")), "checkpoint on disk")
    p = ctl.run("store", "backup", "first", expect=65)
    check(p.stdout == "" and len(p.stderr.splitlines()) == 1 and p.stderr.startswith("chatctl: ")
          and "409" in p.stderr, "taken name: %r" % p.stderr)
    for bad in ("a/b", "..", "x" * 65):
        p = ctl.run("store", "backup", bad, expect=65)
        check(len(p.stderr.splitlines()) == 1, "bad name %r: %r" % (bad, p.stderr))
    j = ctl.json_lines("--json", "store", "backup", "second")[0]
    check(j["name"] == "second" and os.path.isdir(j["path"]), "backup --json: %r" % j)
    chattest.log("store backup: made, taken name and bad names are exit 65")


def check_routes(port, admin, bob, alerts):
    st, body = rest(port, "GET", "/api/v10/admin/store/stats", bob)
    check(st == 403 and body["code"] == 50013, "non-admin: %r %r" % (st, body))
    st, body = rest(port, "POST", "/api/v10/admin/store/backup", bob, {"name": "bob"})
    check(st == 403, "non-admin backup: %r" % st)
    st, body = rest(port, "GET", "/api/v10/admin/store/stats")
    check(st == 401 and body["code"] == 40001, "no token: %r %r" % (st, body))
    for prefix in ("/api/v10", "/api/v9", "/api"):
        st, body = rest(port, "GET", prefix + "/admin/store/stats?channel_id=" + alerts, admin)
        check(st == 200 and body["channel_id"] == alerts, "%s: %r" % (prefix, st))
    for method, path, body, code in (
            ("GET", "/api/v10/admin/store/stats?channel_id=abc", None, 50035),
            ("POST", "/api/v10/admin/store/backup", {"name": "a b"}, 50035),
            ("POST", "/api/v10/admin/store/backup", {}, 50035),
            ("POST", "/api/v10/admin/store/backup", {"name": 5}, 50035),
            ("POST", "/api/v10/admin/store/compact", {"channel_id": "x"}, 50035)):
        st, got = rest(port, method, path, admin, body)
        check(st == 400 and got["code"] == code and got["message"],
              "%s %s %r: %r %r" % (method, path, body, st, got))
    st, got = rest(port, "POST", "/api/v10/admin/store/compact", admin, raw=b"{nope")
    check(st == 400 and got["code"] == 50109, "bad JSON: %r %r" % (st, got))
    st, _ = rest(port, "POST", "/api/v10/admin/store/stats", admin, {})
    check(st == 405, "POST stats: %r" % st)
    st, _ = rest(port, "GET", "/api/v10/admin/store/nothing", admin)
    check(st == 404, "unknown store route: %r" % st)
    st, got = rest(port, "POST", "/api/v10/admin/store/backup", admin, {"name": "first"})
    check(st == 409 and got["message"], "taken over REST: %r %r" % (st, got))
    chattest.log("admin store routes: 403, 401, 400, 405, 404, 409; v10, v9 and bare prefixes")


def check_retention(ctl, port, admin, bob, cfg, nc, alerts, general, old_alerts):
    # Through chatctl: the channel's own setting.
    r = ctl.json_lines("--json", "channel", "retention", "ops/#alerts", "7")[0]
    check(r["retention_days"] == 7 and r["effective_days"] == 7, "set 7: %r" % r)
    st, ch = rest(port, "GET", "/api/v10/channels/" + alerts, admin)
    check(st == 200 and ch["retention_days"] == 7, "GET channel: %r" % ch)
    check(ctl.json_lines("store", "stats", "--channel", alerts)[0]["retention_days"] == 7,
          "stored has 7 for alerts")
    # Through REST: 0 keeps forever; bad values are 400; a non-member is refused.
    st, ch = rest(port, "PATCH", "/api/v10/channels/" + general, admin, {"retention_days": 0})
    check(st == 200 and ch["retention_days"] == 0, "PATCH 0: %r %r" % (st, ch))
    for bad in (40000, -1, "x", 1.5):
        st, got = rest(port, "PATCH", "/api/v10/channels/" + general, admin,
                       {"retention_days": bad})
        check(st == 400 and got["code"] == 50035, "PATCH %r: %r %r" % (bad, st, got))
    st, _ = rest(port, "PATCH", "/api/v10/channels/" + general, bob, {"retention_days": 1})
    check(st == 403, "non-member PATCH: %r" % st)
    st, ch = rest(port, "GET", "/api/v10/channels/" + general, admin)
    check(ch["retention_days"] == 0, "unchanged by refused PATCHes: %r" % ch)

    # The guild's setting: GET shows it; a channel created afterwards is covered.
    g = ctl.json_lines("--json", "guild", "retention", "ops", "3")[0]
    check(g["retention_days"] == 3, "guild 3: %r" % g)
    gid = g["guild_id"]
    st, guild = rest(port, "GET", "/api/v10/guilds/" + gid, admin)
    check(guild["retention_days"] == 3, "GET guild: %r" % guild)
    later = ctl.json_lines("--json", "channel", "create", "ops", "later")[0]["id"]
    st, ch = rest(port, "GET", "/api/v10/channels/" + later, admin)
    check("retention_days" not in ch, "no own setting on later: %r" % ch)
    s = ctl.json_lines("store", "stats", "--channel", "ops/#later")[0]
    check(s["retention_days"] == 3, "stored applies the guild's 3 days to later: %r" % s)
    r = ctl.json_lines("channel", "retention", "ops/#later")[0]
    check(r == {"channel_id": later, "guild_id": gid, "retention_days": None,
                "guild_retention_days": 3, "effective_days": 3}, "later: %r" % r)
    people = run_tty(ctl, "channel", "retention", "ops/#later")
    check(people.strip() == "ops/#later: 3 days (from its guild)", people)
    # general keeps its own 0 over the guild's 3; `off` gives it the guild's.
    check(ctl.json_lines("store", "stats", "--channel", general)[0]["retention_days"] == 0, "0")
    r = ctl.json_lines("channel", "retention", "ops/#general", "off")[0]
    check(r["retention_days"] is None and r["effective_days"] == 3, "off: %r" % r)
    check(ctl.json_lines("store", "stats", "--channel", general)[0]["retention_days"] == 3, "3")
    ctl.run("channel", "retention", "ops/#general", "forever", expect=64)
    ctl.run("guild", "retention", "ops", "36501", expect=64)

    # The sweep acts on it: later's old messages (5 days) go, alerts' (8-10 days, limit 7)
    # go, recent ones stay.
    now = int(time.time() * 1000)
    put_old_messages(nc, int(later), now, [5, 4])
    before = ctl.json_lines("store", "stats", "--channel", later)[0]["messages"]
    check(before == 8, "later has its old messages: %d" % before)
    # stored's own first sweep (5 s after it started) may already have taken alerts' old
    # messages when this point is reached late (sanitizer builds): count what is left.
    alerts_before = ctl.json_lines("store", "stats", "--channel", alerts)[0]["messages"]
    check(alerts_before in (25, 25 + len(old_alerts)), "alerts before: %d" % alerts_before)
    sweep = unpackb(nc.request("chat.admin.stored", packb({"v": 1, "op": "retention.run"}),
                               60.0))
    check(sweep["status"] == 200, "retention.run: %r" % sweep)
    removed = json.loads(sweep["text"])["removed_messages"]
    check(ctl.json_lines("store", "stats", "--channel", later)[0]["messages"] == 0,
          "later's old messages expired under the guild's setting")
    a = ctl.json_lines("store", "stats", "--channel", alerts)[0]
    check(a["messages"] == 25, "alerts keeps its 25 recent messages: %r" % a["messages"])
    check(removed == 8 + alerts_before - 25, "sweep removed %d" % removed)

    # Clearing the guild's setting.
    g = ctl.json_lines("guild", "retention", "ops", "off")[0]
    check(g["retention_days"] is None, "guild off: %r" % g)
    st, guild = rest(port, "GET", "/api/v10/guilds/" + gid, admin)
    check("retention_days" not in guild, "cleared: %r" % guild)
    check(ctl.json_lines("store", "stats", "--channel", later)[0]["retention_days"] == 0, "none")
    st, ch = rest(port, "PATCH", "/api/v10/channels/" + alerts, admin, {"retention_days": None})
    check(st == 200 and "retention_days" not in ch, "null removes: %r" % ch)
    chattest.log("retention: channel and guild settings via chatctl and REST, guild's reaches a "
                 "later channel, sweep removed %d" % removed)


def main():
    chattest.require_programs("chatd", "stored", "guildd", "gatewayd", "presenced", "chatctl")
    with chattest.TestDir("chat-storeadm-") as tmp:
        cfg = chattest.write_config(tmp, {"store": {"bucket_days": 1}})
        ctl = chattest.Chatctl(cfg)
        port = cfg.ports["gateway"]
        with chattest.Chatd(cfg) as chatd:
            chatd.wait_running()
            admin = open(os.path.join(cfg.data_dir, "admin.token")).read().strip()
            ctl.json_lines("--json", "guild", "create", "ops")
            alerts = ctl.json_lines("--json", "channel", "create", "ops", "alerts")[0]["id"]
            general = ctl.json_lines("--json", "channel", "list", "ops")
            general = [c["id"] for c in general if c["name"] == "general"][0]
            ids = ctl.run("send", "ops/#alerts",
                          stdin="".join("line %d\n" % i for i in range(25))).stdout.split()
            check(len(ids) == 25, "sent 25")
            ctl.run("send", "ops/#general", stdin="a\nb\nc\nd\ne\n")
            bob = ctl.json_lines("--json", "user", "create", "bob")[0]["token"]
            nc = NatsClient("127.0.0.1", cfg.ports["nats"])
            try:
                old = check_stats(ctl, alerts, 25, 30, nc)
                check_compact(ctl)
                check_backup(ctl, cfg)
                check_routes(port, admin, bob, alerts)
                check_retention(ctl, port, admin, bob, cfg, nc, alerts, general, old)
            finally:
                nc.close()
            chatd.stop()
        p = ctl.run("store", "stats", expect=69)
        check("cannot reach" in p.stderr, p.stderr)
        chattest.log("daemon set down: store stats exits 69")
    chattest.log("PASS")


if __name__ == "__main__":
    main()
