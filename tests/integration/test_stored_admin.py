"""stored's operator interface and retention over a real bus: a nats-server of our own,
stored with a temp config, and this script speaking NATS and msgpack.

Checks: chat.admin.stored `stats` (whole store and one channel) has the figures an
operator needs; `retention.set`/`retention.get` on chat.store.0 (channel and guild
settings, bad input 400); `retention.run` removes exactly the expired messages and
`stats` reports it; `compact` reports bytes before and after; `backup` makes a checkpoint
and refuses taken and invalid names; malformed admin requests get a 400 and stored stays
up; after kill -9 and a restart, then a compaction, deleted and expired messages are still
gone; the cron runs a retention sweep on its own.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chattest  # noqa: E402
from msgpack_mini import packb, unpackb  # noqa: E402
from nats_mini import NatsClient  # noqa: E402
from test_stored_bus import Stored, check, message, snowflake, store_request  # noqa: E402

DAY = 86400000


def admin(nc, req, timeout=60.0):
    req.setdefault("v", 1)
    return unpackb(nc.request("chat.admin.stored", packb(req), timeout))


def admin_ok(nc, req):
    r = admin(nc, req)
    check(r["status"] == 200, "admin %r: %r" % (req, r))
    return json.loads(r["text"])


def all_ids(nc, channel):
    ids, before = [], None
    while True:
        req = {"op": "msg.page", "channel_id": channel, "limit": 100}
        if before:
            req["before"] = before
        r = store_request(nc, req)
        check(r["status"] == 200, "page: %r" % r)
        if not r["messages"]:
            return sorted(ids)
        ids.extend(m["id"] for m in r["messages"])
        before = r["messages"][-1]["id"]


def fill(nc, channel, now_ms, days, per_day):
    """per_day messages a day for `days` days before now; returns the ids."""
    ids = []
    for d in range(days, 0, -1):
        batch = [snowflake(now_ms - d * DAY + i * (DAY // per_day), i) for i in range(per_day)]
        r = store_request(nc, {"op": "msg.append",
                               "messages": [message(channel, i) for i in batch]})
        check(r["status"] == 200, "append: %r" % r)
        ids.extend(batch)
    return ids


def main():
    chattest.require_programs("stored")
    with chattest.TestDir("chat-stadm-") as tmp:
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
            now = int(time.time() * 1000)
            a, b, c = 5001, 5002, 5003
            ids_a = fill(nc, a, now, 20, 12)
            ids_b = fill(nc, b, now, 20, 12)
            ids_c = fill(nc, c, now, 20, 12)

            # stats
            s = admin_ok(nc, {"op": "stats"})
            for key in ("messages", "buckets", "disk", "levels", "pending_compaction_bytes",
                        "block_cache", "write_stalls", "retention", "column_families"):
                check(key in s, "stats has %s: %r" % (key, s))
            check(s["buckets"] >= 60, "buckets counted: %r" % s["buckets"])
            check(s["channels"] == 3, "channels counted")
            check(s["disk"]["memtable_bytes"] + s["disk"]["live_sst_bytes"] > 0, "bytes")
            check(0.0 <= s["block_cache"]["hit_rate"] <= 1.0, "hit rate")
            one = admin_ok(nc, {"op": "stats", "channel_id": a})
            check(one["messages"] == len(ids_a), "channel stats count: %r" % one)
            check(len(one["buckets"]) >= 20, "channel buckets")
            chattest.log("stats: ok (%d buckets, %d levels)" % (s["buckets"], len(s["levels"])))

            # retention settings
            r = store_request(nc, {"op": "retention.set", "channel_id": a, "days": 7})
            check(r["status"] == 200, "retention.set channel: %r" % r)
            r = store_request(nc, {"op": "retention.set", "guild_id": 77, "ids": [b, c],
                                   "days": 3})
            check(r["status"] == 200, "retention.set guild: %r" % r)
            r = store_request(nc, {"op": "retention.set", "channel_id": c, "days": 0})
            check(r["status"] == 200, "retention.set keep forever: %r" % r)
            for bad in ({"channel_id": a, "guild_id": 1, "days": 3}, {"days": 3},
                        {"channel_id": a, "days": 40000}, {"guild_id": 1, "days": 3},
                        {"guild_id": 1, "ids": [0], "days": 3}):
                r = store_request(nc, dict({"op": "retention.set"}, **bad))
                check(r["status"] == 400, "retention.set %r: %r" % (bad, r))
            r = store_request(nc, {"op": "retention.get", "channel_id": b})
            check(json.loads(r["text"])["days"] == 3, "effective days of b: %r" % r)
            r = store_request(nc, {"op": "retention.get", "channel_id": c})
            check(json.loads(r["text"])["days"] == 0, "c kept forever: %r" % r)
            r = store_request(nc, {"op": "retention.get", "guild_id": 77})
            g = json.loads(r["text"])
            check(g["days"] == 3 and g["channels"] == [str(b), str(c)], "guild: %r" % g)

            # A point delete too, of a recent message of a.
            r = store_request(nc, {"op": "msg.delete", "channel_id": a, "ids": [ids_a[-1]]})
            check(r["count"] == 1, "delete")

            # retention.run: exactly the expired ones go.
            sweep = admin_ok(nc, {"op": "retention.run"})
            t = int(time.time() * 1000)
            exp_a = [i for i in ids_a[:-1] if (i >> 22) + 1420070400000 >= t - 7 * DAY]
            exp_b = [i for i in ids_b if (i >> 22) + 1420070400000 >= t - 3 * DAY]
            got_a, got_b, got_c = all_ids(nc, a), all_ids(nc, b), all_ids(nc, c)
            # The sweep ran a moment before `t`: allow the one message that may have
            # expired in between.
            check(abs(len(got_a) - len(exp_a)) <= 1 and set(got_a) >= set(exp_a),
                  "a after retention: %d vs %d" % (len(got_a), len(exp_a)))
            check(abs(len(got_b) - len(exp_b)) <= 1 and set(got_b) >= set(exp_b), "b")
            check(got_c == sorted(ids_c), "c is kept forever")
            removed = (len(ids_a) - 1 - len(got_a)) + (len(ids_b) - len(got_b))
            check(sweep["removed_messages"] == removed,
                  "sweep says %r, pages say %d" % (sweep, removed))
            check(sweep["removed_buckets"] >= 20, "whole buckets dropped: %r" % sweep)
            s = admin_ok(nc, {"op": "stats"})
            check(s["retention"]["removed_messages"] == removed, "stats: %r" % s["retention"])
            check(s["retention"]["runs"] >= 1 and s["retention"]["policies"] == 2, "policies")
            chattest.log("retention: removed %d messages, %d whole buckets"
                         % (removed, sweep["removed_buckets"]))

            # compact
            comp = admin_ok(nc, {"op": "compact"})
            check(comp["before_bytes"] > 0 and comp["after_bytes"] > 0, "compact: %r" % comp)
            comp1 = admin_ok(nc, {"op": "compact", "channel_id": a})
            check("before_bytes" in comp1, "compact one channel")
            check(all_ids(nc, a) == got_a, "a unchanged by compaction")
            chattest.log("compact: %d -> %d bytes" % (comp["before_bytes"], comp["after_bytes"]))

            # backup
            bk = admin_ok(nc, {"op": "backup", "name": "first"})
            check(bk["path"] == os.path.join(cfg.data_dir, "backups", "first"), "path %r" % bk)
            check(os.path.exists(os.path.join(bk["path"], "CURRENT")), "checkpoint on disk")
            r = admin(nc, {"op": "backup", "name": "first"})
            check(r["status"] == 409, "taken name: %r" % r)
            for name in ("", "..", "../x", "a/b", "x" * 65, "a b"):
                r = admin(nc, {"op": "backup", "name": name})
                check(r["status"] == 400, "bad name %r: %r" % (name, r))
            chattest.log("backup: ok")

            # bad admin input
            good = packb({"v": 1, "op": "stats"})
            for body in (good[:-2], b"", b"\xc1", packb({"v": 9, "op": "stats"}),
                         packb({"v": 1, "op": "explode"}), packb({"v": 1, "op": 5}),
                         packb([1, 2, 3])):
                r = unpackb(nc.request("chat.admin.stored", body, 10.0))
                check(r["status"] == 400 and r["error"], "bad admin %r: %r" % (body, r))
                check(stored.alive(), "stored died on %r" % body)
            chattest.log("bad admin input: 400s")

            # kill -9, restart, compact: nothing comes back.
            stored.proc.send_signal(signal.SIGKILL)
            stored.proc.wait()
            stored.notify.close()
            stored = Stored(tmp, cfg).start()
            check(all_ids(nc, a) == got_a and all_ids(nc, b) == got_b, "after kill -9")
            admin_ok(nc, {"op": "compact"})
            check(all_ids(nc, a) == got_a and all_ids(nc, b) == got_b, "after compaction")
            s = admin_ok(nc, {"op": "stats"})
            check(s["retention"]["removed_messages"] == removed, "counters survive restart")
            chattest.log("deleted and expired messages stay gone after kill -9 and compaction")

            # The cron's first retention sweep comes a few seconds after start.
            def sweeps():
                body = chattest.http_get("127.0.0.1", cfg.ports["store"], "/metrics")[1]
                for line in body.splitlines():
                    if line.startswith("chat_stored_retention_sweeps_total "):
                        return float(line.split()[1]) >= 1
                return False
            chattest.wait_for(sweeps, 20, "the cron's retention sweep")
            check(admin_ok(nc, {"op": "stats"})["retention"]["runs"] >= 2, "cron sweep counted")
            chattest.log("cron ran a retention sweep")

            stored.proc.send_signal(signal.SIGTERM)
            code = stored.wait_exit(30)
            check(code == 0, "SIGTERM: exit %d\n%s" % (code, stored.log_tail()))
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
