"""Backup and restore as stored(8) documents it: a daemon set under chatd serves some
history; `backup` on chat.admin.stored makes a checkpoint; more is written after it; the
set is stopped, <data_dir>/store is replaced by the checkpoint, and the set is started
again. It must serve the history of the moment of the backup, identically: every page of
every channel (latest, before, after, around) and the directory entries, compared as
msgpack replies over the bus before and after; what was written after the backup is gone.
"""

import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chattest  # noqa: E402
from msgpack_mini import packb, unpackb  # noqa: E402
from nats_mini import NatsClient  # noqa: E402
from test_stored_bus import check, message, snowflake, store_request  # noqa: E402

DAY = 86400000
CHANNELS = [8101, 8102, 8103]


def admin(nc, req, timeout=60.0):
    req.setdefault("v", 1)
    return unpackb(nc.request("chat.admin.stored", packb(req), timeout))


def connect(cfg):
    return chattest.wait_for(lambda: NatsClient("127.0.0.1", cfg.ports["nats"]), 20, "the bus")


def snapshot(nc, ids):
    """Every reply a reader could get: all pages of every channel and cursor pages."""
    out = {}
    for ch in CHANNELS:
        before, n = None, 0
        while True:
            req = {"op": "msg.page", "channel_id": ch, "limit": 37}
            if before:
                req["before"] = before
            r = store_request(nc, req)
            out[(ch, "page", n)] = r
            if not r["messages"]:
                break
            before, n = r["messages"][-1]["id"], n + 1
        for mid in ids[ch][::25]:
            for cursor in ("before", "after", "around"):
                out[(ch, cursor, mid)] = store_request(
                    nc, {"op": "msg.page", "channel_id": ch, cursor: mid, "limit": 20})
            out[(ch, "get", mid)] = store_request(
                nc, {"op": "msg.get", "channel_id": ch, "message_id": mid})
    out["dir"] = store_request(nc, {"op": "dir.scan", "prefix": "restoretest/"})
    return out


def main():
    chattest.require_programs("chatd", *chattest.DAEMONS)
    with chattest.TestDir("chat-strest-") as tmp:
        cfg = chattest.write_config(tmp, {"store": {"bucket_days": 1}})
        ids = {ch: [] for ch in CHANNELS}
        with chattest.Chatd(cfg) as chatd:
            chatd.wait_running()
            nc = connect(cfg)
            t0 = 1700000000000
            for ch in CHANNELS:
                for day in range(0, 40, 3):  # buckets with gaps between them
                    batch = [snowflake(t0 + day * DAY + i * 3600000, i) for i in range(9)]
                    r = store_request(nc, {"op": "msg.append",
                                           "messages": [message(ch, m) for m in batch]})
                    check(r["status"] == 200, "append: %r" % r)
                    ids[ch].extend(batch)
            edited = message(CHANNELS[0], ids[CHANNELS[0]][5], "edited before the backup")
            check(store_request(nc, {"op": "msg.put", "messages": [edited]})["status"] == 200,
                  "edit")
            store_request(nc, {"op": "msg.delete", "channel_id": CHANNELS[1],
                               "ids": ids[CHANNELS[1]][10:20]})
            store_request(nc, {"op": "dir.put", "entries": [
                {"key": "restoretest/%d" % i, "value": "v%d" % i} for i in range(50)]})
            before = snapshot(nc, ids)

            r = admin(nc, {"op": "backup", "name": "snap"})
            check(r["status"] == 200, "backup: %r" % r)

            # After the backup: must not survive the restore.
            late = snowflake(t0 + 50 * DAY, 1)
            store_request(nc, {"op": "msg.append", "messages": [message(CHANNELS[2], late)]})
            store_request(nc, {"op": "msg.delete", "channel_id": CHANNELS[0],
                               "ids": ids[CHANNELS[0]][:5]})
            store_request(nc, {"op": "dir.del", "keys": ["restoretest/3"]})
            check(snapshot(nc, ids) != before, "the writes after the backup show")
            nc.close()
            chatd.stop()

        # Restore, as stored(8) says: the set is stopped; replace the store directory.
        data = cfg.data_dir
        os.rename(os.path.join(data, "store"), os.path.join(data, "store.old"))
        shutil.copytree(os.path.join(data, "backups", "snap"), os.path.join(data, "store"))
        chattest.log("restored %s from backups/snap" % os.path.join(data, "store"))

        with chattest.Chatd(cfg) as chatd:
            chatd.wait_running()
            nc = connect(cfg)
            after = snapshot(nc, ids)
            diff = [k for k in before if before[k] != after.get(k)]
            check(not diff, "%d replies differ after the restore, e.g. %r" % (len(diff), diff[:3]))
            r = store_request(nc, {"op": "msg.get", "channel_id": CHANNELS[2], "message_id": late})
            check(r["status"] == 404, "a message written after the backup is gone")
            chattest.log("restored set serves identical history (%d replies compared)"
                         % len(before))
            nc.close()
            chatd.stop()
    chattest.log("PASS")


if __name__ == "__main__":
    main()
