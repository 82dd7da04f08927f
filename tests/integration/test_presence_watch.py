"""Presence in large guilds and in guilds joined after READY, through the real daemon set
(chatd, nats-server, stored, guildd, presenced, gatewayd) with raw WebSocket sessions.

Config: presence.large_guild_threshold = 4 and gateway.max_presence_watches = 2.
Guild L (large): admin, W, X, Y, Z. Guild S (small): admin, W, Z. W watches with
GUILD_PRESENCES; X, Y, Z are online without it.

1. op 8 with presences: true on L for X: GUILD_MEMBERS_CHUNK carries X's presence; then
   W gets PRESENCE_UPDATE (guild L) for X, none for Y (not asked) and none for Z in L,
   while Z's change still reaches W through the small guild S.
2. The watch cap: Y makes two watches; asking for Z as well is refused (the chunk still
   answers Z's member and presence), Z's changes never come through L, Y's do;
   chat_gatewayd_presence_watch_refused_total counts the refusals and gatewayd logs the
   cap once for the session.
3. Guilds joined after READY: B (online, dnd, in guild H only) is added to guild J where
   W is: W gets B's presence for J at once and B's later changes; C (online, with
   GUILD_PRESENCES, in H only) is added to J: its GUILD_CREATE for J carries W's and B's
   presences (J stays at the threshold). B removed from J: W no longer gets B's changes for J.
"""

import os
import sys
import time

import chattest
from chatfixtures import add_member, new_guild, new_user

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_gateway_api import check, rest  # noqa: E402
from test_presence_gateway import BLIND, WATCH, Session, is_presence  # noqa: E402

COALESCE_MS = 100
THRESHOLD = 4
CAP = 2
GUILD_MEMBERS = 1 << 1
REFUSED = "chat_gatewayd_presence_watch_refused_total"
CAP_LOG = "presence watch limit reached"


def gateway_metric(port, name):
    status, body = chattest.http_get("127.0.0.1", port, "/metrics")
    check(status == 200, "gatewayd /metrics: %s" % status)
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def set_status(s, status, activity=None):
    acts = [{"name": activity, "type": 0}] if activity else []
    s.send({"op": 3, "d": {"since": 0, "activities": acts, "status": status, "afk": False}})


def in_guild(gid):
    return lambda m: m["d"].get("guild_id") == gid


def presences_of(seen, user_id, gid=None):
    return [m for m in seen if m.get("t") == "PRESENCE_UPDATE" and m["d"]["user"]["id"] == user_id
            and (gid is None or m["d"].get("guild_id") == gid)]


def ask(w, gid, user_ids, nonce):
    """op 8 with presences for `user_ids`; returns the chunk."""
    w.send({"op": 8, "d": {"guild_id": gid, "user_ids": user_ids, "presences": True,
                           "limit": 0, "nonce": nonce}})
    return w.until(lambda m: m.get("t") == "GUILD_MEMBERS_CHUNK" and m["d"].get("nonce") == nonce,
                   10, "chunk " + nonce)["d"]


def update_seen(w, user_id, status, gid, seen, what):
    """Reads until user_id's PRESENCE_UPDATE with `status` for guild gid (kept in seen)."""
    return w.until(lambda m: is_presence(user_id, status)(m) and in_guild(gid)(m), 10, what, seen)


def large_guild_watches(port, admin, log_path):
    suffix = str(int(time.time() * 1000) % 100000)
    wu, xu, yu, zu = (new_user(port, admin, n + suffix) for n in ("w", "x", "y", "z"))
    big = new_guild(port, admin, "large", [wu, xu, yu, zu])  # 5 members with admin
    small = new_guild(port, admin, "small", [wu, zu])  # 3 members with admin
    online = {"status": "online", "activities": [], "since": None, "afk": False}
    x, y, z = Session(port), Session(port), Session(port)
    for s, u in ((x, xu), (y, yu), (z, zu)):
        s.login(u["token"], BLIND, online)
    w = Session(port)
    _, creates = w.login(wu["token"], WATCH)
    check(creates[big]["presences"] == [], "no presences in a large guild's GUILD_CREATE: %r"
          % creates[big]["presences"])
    small_ids = {p["user"]["id"] for p in creates[small]["presences"]}
    check(zu["id"] in small_ids, "the small guild's GUILD_CREATE has Z: %r" % small_ids)

    # -- 1. op 8 with presences watches the asked member, and only that one
    chunk = ask(w, big, [xu["id"]], "x")
    check([m["user"]["id"] for m in chunk["members"]] == [xu["id"]], "chunk members %r" % chunk)
    check([(p["user"]["id"], p["status"]) for p in chunk["presences"]] == [(xu["id"], "online")],
          "chunk presences %r" % chunk["presences"])
    seen = []
    set_status(x, "dnd", "chess")
    m = update_seen(w, xu["id"], "dnd", big, seen, "X dnd in L")
    check(m["d"]["activities"][0]["name"] == "chess", "X's activity %r" % m["d"])
    set_status(y, "idle")  # not asked: nothing
    set_status(z, "dnd")   # not asked in L: only through S
    update_seen(w, zu["id"], "dnd", small, seen, "Z dnd in S")
    set_status(x, "idle")  # the marker: published after Y's and Z's changes
    update_seen(w, xu["id"], "idle", big, seen, "X idle in L")
    check(not presences_of(seen, yu["id"]), "nothing of Y: %r" % presences_of(seen, yu["id"]))
    check(not presences_of(seen, zu["id"], big), "nothing of Z in L: %r"
          % presences_of(seen, zu["id"], big))
    chattest.log("ok: op 8 presences on a large guild: chunk presences, watched member only; "
                 "the small guild fans out as usual")

    # -- 2. the cap: X and Y watched, Z refused
    check(not gateway_metric(port, REFUSED), "nothing refused yet")
    chunk = ask(w, big, [yu["id"]], "y")
    check([(p["user"]["id"], p["status"]) for p in chunk["presences"]] == [(yu["id"], "idle")],
          "Y's chunk %r" % chunk["presences"])
    chunk = ask(w, big, [zu["id"]], "z")
    check([m["user"]["id"] for m in chunk["members"]] == [zu["id"]], "Z's member answered %r"
          % chunk)
    check([(p["user"]["id"], p["status"]) for p in chunk["presences"]] == [(zu["id"], "dnd")],
          "Z's presence answered though refused a watch %r" % chunk["presences"])
    chunk = ask(w, big, [zu["id"]], "z2")  # refused again, logged once
    check(gateway_metric(port, REFUSED) == 2, "refusals counted: %r"
          % gateway_metric(port, REFUSED))
    seen = []
    set_status(z, "online")
    update_seen(w, zu["id"], "online", small, seen, "Z online in S")
    set_status(y, "dnd")
    update_seen(w, yu["id"], "dnd", big, seen, "Y dnd in L (watched)")
    set_status(x, "online")  # marker
    update_seen(w, xu["id"], "online", big, seen, "X online in L")
    check(not presences_of(seen, zu["id"], big), "Z refused, yet updated in L: %r"
          % presences_of(seen, zu["id"], big))
    with open(log_path, errors="replace") as f:
        logged = sum(1 for line in f if CAP_LOG in line)
    check(logged == 1, "the cap is logged once per session, found %d" % logged)
    chattest.log("ok: watch cap %d: refused asks answered, not watched, counted, logged once"
                 % CAP)
    for s in (w, x, y, z):
        s.close()


def guild_joins(port, admin):
    suffix = str(int(time.time() * 1000) % 100000)
    wu, bu, cu = (new_user(port, admin, n + suffix) for n in ("jw", "jb", "jc"))
    home = new_guild(port, admin, "home", [bu, cu])
    joined = new_guild(port, admin, "joined", [wu])
    b, c, w = Session(port), Session(port), Session(port)
    b.login(bu["token"], BLIND, {"status": "dnd", "activities": [{"name": "go", "type": 0}],
                                 "since": None, "afk": False})
    c.login(cu["token"], WATCH)
    w.login(wu["token"], WATCH | GUILD_MEMBERS)

    # B joins J: W, who shares no other guild with B, sees B's presence for J at once ...
    seen = []
    add_member(port, admin, joined, bu)
    m = update_seen(w, bu["id"], "dnd", joined, seen, "B's presence after joining J")
    check(m["d"]["activities"][0]["name"] == "go", "B's activity %r" % m["d"])
    check(any(x["t"] == "GUILD_MEMBER_ADD" for x in seen), "GUILD_MEMBER_ADD first: %r"
          % [x["t"] for x in seen])
    # ... and B's next change.
    set_status(b, "idle")
    update_seen(w, bu["id"], "idle", joined, seen, "B idle in J")
    chattest.log("ok: a guild joined after READY gets the joiner's presence and changes")

    # C joins J: its GUILD_CREATE carries the presences of J's members, as at IDENTIFY.
    add_member(port, admin, joined, cu)
    gc = c.until(lambda x: x.get("t") == "GUILD_CREATE" and x["d"]["id"] == joined, 10,
                 "C's GUILD_CREATE for J")["d"]
    pres = {p["user"]["id"]: p["status"] for p in gc["presences"]}
    check(pres.get(wu["id"]) == "online" and pres.get(bu["id"]) == "idle",
          "J's presences in C's GUILD_CREATE %r" % gc["presences"])
    check({mm["user"]["id"] for mm in gc["members"]} >= {wu["id"], bu["id"], cu["id"]},
          "members %r" % gc["members"])
    seen = []
    set_status(w, "dnd")
    update_seen(c, wu["id"], "dnd", joined, seen, "W dnd in J, seen by C")
    chattest.log("ok: the joiner's GUILD_CREATE carries the guild's presences")

    # B leaves J: W no longer gets B's changes for J.
    status, _, _ = rest(port, "DELETE", "/guilds/%s/members/%s" % (joined, bu["id"]), admin)
    check(status in (200, 204), "remove B from J: %s" % status)
    b.until(lambda x: x.get("t") == "GUILD_DELETE" and x["d"]["id"] == joined, 10,
            "B's GUILD_DELETE")
    seen = []
    w.until(lambda x: x.get("t") == "GUILD_MEMBER_REMOVE", 10, "GUILD_MEMBER_REMOVE", seen)
    set_status(b, "online")
    # C shares H with B: B's change reaches C there, so it has been published by now.
    c.until(lambda x: is_presence(bu["id"], "online")(x) and in_guild(home)(x), 10,
            "B online in H, seen by C")
    set_status(c, "idle")  # the marker, in J
    update_seen(w, cu["id"], "idle", joined, seen, "C idle in J")
    check(not presences_of(seen, bu["id"]), "B left J, yet W got %r" % presences_of(seen, bu["id"]))
    chattest.log("ok: a guild left no longer gets the leaver's changes")
    for s in (b, c, w):
        s.close()


def main():
    chattest.require_programs("chatd", "chatctl", *chattest.DAEMONS)
    with chattest.TestDir() as tmp:
        cfg = chattest.write_config(tmp, {
            "store": {"sync": "none"},
            "gateway": {"threads": 1, "max_presence_watches": CAP},
            "presence": {"coalesce_ms": COALESCE_MS, "large_guild_threshold": THRESHOLD},
        })
        with chattest.Chatd(cfg) as chatd:
            chatd.wait_running()
            port = cfg.ports["gateway"]
            token_path = os.path.join(cfg.data_dir, "admin.token")
            chattest.wait_for(lambda: os.path.exists(token_path), 10, "admin.token")
            admin = open(token_path).read().strip()
            chattest.wait_for(lambda: chattest.http_get("127.0.0.1", port, "/readyz")[0] == 200,
                              30, "gatewayd ready")
            large_guild_watches(port, admin, chatd.log_path)
            guild_joins(port, admin)
            chatd.stop()
    chattest.log("PASS")


if __name__ == "__main__":
    main()
