#!/usr/bin/python3
"""Discord's large-guild behaviour through the real daemon set under chatd, with raw
WebSocket sessions (python3-websocket).

Guilds: BIG (the admin, bot B and 20,000 users written in bulk: 20,002 members, a
guilds.mine that listed every member would pass NATS's 1 MB max payload), MID (admin,
B, 98 bulk users: 100 members) and SMALL (admin, B, 3 users: 5 members).

1. guildd's guilds.mine for B, asked on the bus: small whatever the guild sizes, BIG
   with member_count 20002 and only B's own member, MID and SMALL listed in full.
2. IDENTIFY with the default large_threshold (50): GUILD_CREATE for BIG has large true,
   member_count 20002 and members == [B]; MID (100 > 50) is large too; SMALL is unchanged
   (large false, all 5 members). large_threshold 250 makes MID not large (all 100
   listed); 1000 is clamped to 250 and 10 to 50 (Discord clamps too).
3. op 8 with query "" and limit 0 on BIG (with presences, GUILD_PRESENCES): 21 chunks,
   chunk_index 0..20 in order, chunk_count 21 in every one, at most 1000 members each,
   every member exactly once, the nonce echoed in each, B's own presence in the chunk
   that has B. limit 2500: 3 chunks, the first 2500 members by id.
4. op 8 with user_ids: those members and not_found for a non-member, in one chunk.
5. A session that closes while its op 8 pages: gatewayd stays up and serves the next
   session (its paging stopped at the next page: sessions are looked up by id).
"""

import os
import sys
import time

import chattest
from bulk_members import restart_guildd, write_members
from chatfixtures import new_guild, new_user
from msgpack_mini import packb, unpackb
from nats_mini import NatsClient

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_gateway_api import check, rest  # noqa: E402
from test_presence_gateway import Session  # noqa: E402

GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_PRESENCES = 1 << 8
INTENTS = GUILDS | GUILD_MEMBERS | GUILD_PRESENCES

BIG_BULK = 20000
MID_BULK = 98
BIG_BASE = 1 << 50
MID_BASE = (1 << 50) + 1000000
MAX_PAYLOAD = 1024 * 1024


def identify(port, token, extra=None, intents=INTENTS):
    """A session after READY and its GUILD_CREATEs: (session, {guild id: GUILD_CREATE d})."""
    s = Session(port)
    hello = s.recv_wait(10)
    check(hello["op"] == 10, "HELLO %r" % hello)
    s.identify(token, intents, extra)
    ready = s.until(lambda m: m.get("t") == "READY", 20, "READY")
    creates = {}
    for _ in ready["d"]["guilds"]:
        gc = s.until(lambda m: m.get("t") == "GUILD_CREATE", 20, "GUILD_CREATE")
        creates[gc["d"]["id"]] = gc["d"]
    return s, creates


def member_ids(gc):
    return [m["user"]["id"] for m in gc["members"]]


def guilds_mine_on_bus(nats_port, token):
    """guildd's raw reply to guilds.mine: (size in bytes, decoded)."""
    nc = NatsClient("127.0.0.1", nats_port)
    try:
        raw = nc.request("chat.guild.0", packb({"v": 1, "op": "guilds.mine", "token": token}),
                         10.0)
    finally:
        nc.close()
    return len(raw), unpackb(raw)


def chunks_for(s, nonce, timeout=60):
    """GUILD_MEMBERS_CHUNKs with `nonce` until the one with chunk_index + 1 == chunk_count."""
    got = []
    while True:
        m = s.until(lambda m: m.get("t") == "GUILD_MEMBERS_CHUNK"
                    and m["d"].get("nonce") == nonce, timeout, "chunks " + nonce)
        got.append(m["d"])
        if m["d"]["chunk_index"] + 1 == m["d"]["chunk_count"]:
            return got
        check(len(got) < 1000, "chunks end")


def check_bus_reply(cfg, bot, big, mid, small):
    size, r = guilds_mine_on_bus(cfg.ports["nats"], bot["token"])
    check(r["status"] == 200, "guilds.mine: %r" % r.get("status"))
    counts = {str(g["id"]): g.get("member_count") for g in r["guilds"]}
    check(counts == {big: BIG_BULK + 2, mid: MID_BULK + 2, small: 5},
          "member_count per guild %r" % counts)
    per_guild = {}
    for m in r["members"]:
        per_guild.setdefault(str(m["guild_id"]), []).append(str(m["user_id"]))
    check(per_guild[big] == [bot["id"]], "BIG lists only B's member: %r" % per_guild[big][:5])
    check(len(per_guild[mid]) == MID_BULK + 2 and len(per_guild[small]) == 5,
          "MID and SMALL listed in full")
    check(size < 64 * 1024, "guilds.mine reply of %d bytes for a %d-member guild"
          % (size, BIG_BULK + 2))
    chattest.log("ok: guilds.mine on the bus: %d bytes for guilds of %d, %d and 5 members"
                 % (size, BIG_BULK + 2, MID_BULK + 2))


def check_guild_creates(port, bot, big, mid, small, small_ids):
    s, gc = identify(port, bot["token"])
    check(gc[big]["large"] is True and gc[big]["member_count"] == BIG_BULK + 2
          and member_ids(gc[big]) == [bot["id"]],
          "BIG: large, member_count %r, own member only %r"
          % (gc[big]["member_count"], member_ids(gc[big])[:3]))
    check(gc[mid]["large"] is True and gc[mid]["member_count"] == MID_BULK + 2
          and member_ids(gc[mid]) == [bot["id"]], "MID is large at the default threshold 50")
    check(gc[small]["large"] is False and gc[small]["member_count"] == 5
          and sorted(member_ids(gc[small])) == sorted(small_ids), "SMALL unchanged: %r"
          % gc[small])
    s.ws.close()
    for threshold, mid_large in ((250, False), (1000, False), (10, True), (51, True)):
        s, gc = identify(port, bot["token"], {"large_threshold": threshold})
        check(gc[mid]["large"] is mid_large, "large_threshold %d: MID large %r"
              % (threshold, gc[mid]["large"]))
        want = 1 if mid_large else MID_BULK + 2
        check(len(gc[mid]["members"]) == want and gc[mid]["member_count"] == MID_BULK + 2,
              "large_threshold %d: %d MID members listed" % (threshold, len(gc[mid]["members"])))
        check(gc[big]["large"] is True and len(gc[big]["members"]) == 1, "BIG large at %d"
              % threshold)
        s.ws.close()
    chattest.log("ok: GUILD_CREATE large/member_count/members by large_threshold "
                 "(250 and 1000 -> MID small; 10 -> clamped to 50, and 51 -> MID large)")


def check_chunking(port, bot, big, expected):
    s, _ = identify(port, bot["token"])
    t0 = time.monotonic()
    s.send({"op": 8, "d": {"guild_id": big, "query": "", "limit": 0, "presences": True,
                           "nonce": "all"}})
    chunks = chunks_for(s, "all")
    took = time.monotonic() - t0
    total = len(expected)
    n = (total + 999) // 1000
    check([c["chunk_index"] for c in chunks] == list(range(n)),
          "chunk indexes 0..%d: %r" % (n - 1, [c["chunk_index"] for c in chunks]))
    check(all(c["chunk_count"] == n and c["guild_id"] == big for c in chunks),
          "chunk_count %d in every chunk" % n)
    check(all(len(c["members"]) <= 1000 for c in chunks), "at most 1000 members a chunk")
    ids = [m["user"]["id"] for c in chunks for m in c["members"]]
    check(len(ids) == len(set(ids)) == total and set(ids) == expected,
          "every member exactly once (%d of %d)" % (len(set(ids)), total))
    with_bot = [c for c in chunks if bot["id"] in [m["user"]["id"] for m in c["members"]]]
    own = [p for p in with_bot[0]["presences"] if p["user"]["id"] == bot["id"]]
    check(own and own[0]["status"] == "online", "B's presence in its chunk: %r" % own)
    chattest.log("ok: op 8 limit 0: %d members in %d chunks in %.2fs" % (total, n, took))

    s.send({"op": 8, "d": {"guild_id": big, "query": "", "limit": 2500, "nonce": "some"}})
    chunks = chunks_for(s, "some")
    ids = [m["user"]["id"] for c in chunks for m in c["members"]]
    check([(c["chunk_index"], c["chunk_count"]) for c in chunks] == [(0, 3), (1, 3), (2, 3)],
          "limit 2500: 3 chunks %r" % [(c["chunk_index"], c["chunk_count"]) for c in chunks])
    check(ids == sorted(expected, key=int)[:2500], "limit 2500: the first 2500 members by id")

    wanted = [str(BIG_BASE + 5), str(BIG_BASE + BIG_BULK - 1), bot["id"]]
    s.send({"op": 8, "d": {"guild_id": big, "user_ids": wanted + ["12345"], "limit": 0,
                           "nonce": "ids"}})
    chunks = chunks_for(s, "ids", 10)
    c = chunks[0]
    check(len(chunks) == 1 and (c["chunk_index"], c["chunk_count"]) == (0, 1), "one chunk")
    check(sorted(member_ids(c)) == sorted(wanted), "user_ids members %r" % member_ids(c))
    check([str(x) for x in c["not_found"]] == ["12345"], "not_found %r" % c["not_found"])
    chattest.log("ok: op 8 with limit 2500 (3 chunks) and with user_ids (+ not_found)")
    s.ws.close()


def check_close_mid_paging(cfg, chatd, bot, big):
    pid = chatd.child("gatewayd")["pid"]
    for _ in range(3):
        s, _ = identify(cfg.ports["gateway"], bot["token"])
        s.send({"op": 8, "d": {"guild_id": big, "query": "", "limit": 0, "nonce": "gone"}})
        s.until(lambda m: m.get("t") == "GUILD_MEMBERS_CHUNK", 20, "the first chunk")
        s.ws.close()
    s, gc = identify(cfg.ports["gateway"], bot["token"])
    check(gc[big]["member_count"] == BIG_BULK + 2, "a new session after closes mid-paging")
    s.ws.close()
    check(chatd.child("gatewayd")["pid"] == pid, "gatewayd still the same process")
    chattest.log("ok: sessions closed while paging; gatewayd serves on")


def main():
    chattest.require_programs("chatd", *chattest.DAEMONS)
    try:
        import websocket  # noqa: F401
    except ImportError:
        chattest.skip("python3-websocket is not installed")
    started = time.monotonic()
    with chattest.TestDir("chat-large-") as tmp:
        cfg = chattest.write_config(tmp, {"store": {"sync": "none"}})
        with chattest.Chatd(cfg) as chatd:
            chatd.wait_running(60)
            chatd.wait_ready_http(30)
            port = cfg.ports["gateway"]
            with open(os.path.join(cfg.data_dir, "admin.token")) as f:
                admin = f.read().strip()
            status, me, _ = rest(port, "GET", "/users/@me", admin)
            check(status == 200, "admin user")
            bot = new_user(port, admin, "bigbot")
            extra = [new_user(port, admin, "small%d" % i) for i in range(3)]
            big = new_guild(port, admin, "big", [bot])
            mid = new_guild(port, admin, "mid", [bot])
            small = new_guild(port, admin, "small", [bot] + extra)
            small_ids = [me["id"], bot["id"]] + [u["id"] for u in extra]

            t0 = time.monotonic()
            big_ids = write_members(cfg.ports["nats"], [big], BIG_BULK, BIG_BASE, "big")
            write_members(cfg.ports["nats"], [mid], MID_BULK, MID_BASE, "mid")
            restart_guildd(chatd, cfg)
            chattest.log("%d + %d members written and loaded in %.1fs"
                         % (BIG_BULK, MID_BULK, time.monotonic() - t0))
            # gatewayd's requests may need a moment to meet the new guildd.
            chattest.wait_for(lambda: rest(port, "GET", "/users/@me", bot["token"])[0] == 200,
                              20, "REST through the restarted guildd")

            check_bus_reply(cfg, bot, big, mid, small)
            check_guild_creates(port, bot, big, mid, small, small_ids)
            expected = {str(u) for u in big_ids} | {me["id"], bot["id"]}
            check_chunking(port, bot, big, expected)
            check_close_mid_paging(cfg, chatd, bot, big)
            chatd.stop()
    check(time.monotonic() - started < 150, "done in %.1fs" % (time.monotonic() - started))


if __name__ == "__main__":
    main()
