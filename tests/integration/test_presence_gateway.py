"""Presence through the real daemon set under chatd (nats-server, stored, guildd,
presenced, gatewayd), with WebSocket sessions (python3-websocket).

1. alice's op 3 status change is seen as PRESENCE_UPDATE by a session with
   GUILD_PRESENCES and not by one without; client_status is "web" for a bot; a new
   session's GUILD_CREATE carries alice's presence.
2. The admin routes and `chatctl presence USER` / `chatctl presence --guild G` (--json too).
3. kill -9 of a second gatewayd (carol's node): the watcher gets PRESENCE_UPDATE offline
   for carol within presence.lease_timeout_ms (short here) plus the coalescing window.
4. kill -9 of presenced: chatd restarts it, it rebuilds the online set from the gateway
   nodes, and nobody flickers offline (the watcher gets no PRESENCE_UPDATE at all).
"""

import json
import os
import signal
import subprocess
import sys
import time

import chattest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_gateway_api import Gateway, check, make_world, rest  # noqa: E402

GUILDS = 1 << 0
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
MESSAGE_CONTENT = 1 << 15
WATCH = GUILDS | GUILD_PRESENCES | GUILD_MESSAGES | MESSAGE_CONTENT
BLIND = GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT

LEASE_MS = 1500
COALESCE_MS = 100


class Session(Gateway):
    """A Gateway that heartbeats while it waits, and can read until a predicate holds."""

    def __init__(self, port):
        # The handshake may wait behind a busy loop (seconds under a sanitizer); reads
        # then poll once a second so that heartbeats go out while waiting.
        super().__init__(port, timeout=10)
        self.ws.settimeout(1)
        self.last_beat = time.monotonic()

    def beat_if_due(self):
        if time.monotonic() - self.last_beat > 5:
            self.send({"op": 1, "d": self.seq})
            self.last_beat = time.monotonic()

    def login(self, token, intents, presence=None):
        hello = self.recv_wait(10)
        check(hello["op"] == 10, "HELLO %r" % hello)
        extra = {"presence": presence} if presence else None
        self.identify(token, intents, extra)
        ready = self.until(lambda m: m.get("t") == "READY", 10, "READY")
        creates = {}
        for _ in ready["d"]["guilds"]:
            gc = self.until(lambda m: m.get("t") == "GUILD_CREATE", 10, "GUILD_CREATE")
            creates[gc["d"]["id"]] = gc["d"]
        return ready, creates

    def recv_wait(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            self.beat_if_due()
            try:
                return self.recv()
            except Exception as e:  # websocket timeout
                if type(e).__name__ != "WebSocketTimeoutException":
                    raise
                if time.monotonic() >= deadline:
                    raise chattest.ChatTestError("nothing received in %.1fs" % timeout)

    def until(self, pred, timeout, what, seen=None):
        """Reads dispatches until pred(msg); each dispatch read is appended to `seen`."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise chattest.ChatTestError("timed out waiting for " + what)
            try:
                msg = self.recv_wait(left)
            except chattest.ChatTestError:
                raise chattest.ChatTestError("timed out waiting for " + what)
            if msg.get("op") != 0:
                continue
            if seen is not None:
                seen.append(msg)
            if pred(msg):
                return msg

    def drain_for(self, seconds):
        """Every dispatch that arrives within `seconds` (reading, not sleeping)."""
        got = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                msg = self.recv_wait(max(0.05, deadline - time.monotonic()))
            except chattest.ChatTestError:
                break
            if msg.get("op") == 0:
                got.append(msg)
        return got


def is_presence(user_id, status=None):
    def pred(m):
        if m.get("t") != "PRESENCE_UPDATE" or m["d"]["user"]["id"] != user_id:
            return False
        return status is None or m["d"]["status"] == status
    return pred


def new_user(port, admin, gid, name):
    status, u, _ = rest(port, "POST", "/admin/users", admin, {"name": name, "bot": True})
    check(status == 200 and u.get("token"), "create user %s: %s %r" % (name, status, u))
    status, _, _ = rest(port, "PUT", "/guilds/%s/members/%s" % (gid, u["id"]), admin)
    check(status in (200, 201, 204), "add member %s: %s" % (name, status))
    return u


def chatctl(cfg, *args):
    r = subprocess.run([chattest.program("chatctl"), "--config", cfg.path] + list(args),
                       capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout, r.stderr


def presenced_metric(cfg, name):
    status, body = chattest.http_get("127.0.0.1", cfg.ports["presence"], "/metrics")
    if status != 200:
        return None
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def main():
    chattest.require_programs("chatd", "chatctl", *chattest.DAEMONS)
    with chattest.TestDir() as tmp:
        cfg = chattest.write_config(tmp, {
            "store": {"sync": "none"},
            "gateway": {"threads": 1},
            "presence": {"lease_timeout_ms": LEASE_MS, "coalesce_ms": COALESCE_MS},
        })
        with chattest.Chatd(cfg) as chatd:
            chatd.wait_running()
            port = cfg.ports["gateway"]
            token_path = os.path.join(cfg.data_dir, "admin.token")
            chattest.wait_for(lambda: os.path.exists(token_path), 10, "admin.token")
            admin = open(token_path).read().strip()
            chattest.wait_for(lambda: chattest.http_get("127.0.0.1", port, "/readyz")[0] == 200,
                              30, "gatewayd ready")
            gid, cid, bob = make_world(port, admin)
            suffix = str(int(time.time() * 1000) % 100000)
            alice = new_user(port, admin, gid, "alice" + suffix)
            carol = new_user(port, admin, gid, "carol" + suffix)

            # -- 1. op 3 seen with GUILD_PRESENCES only
            watcher = Session(port)
            watcher.login(bob["token"], WATCH)
            blind = Session(port)
            blind.login(admin, BLIND)
            a = Session(port)
            a.login(alice["token"], BLIND, {"status": "online", "activities": [], "since": None,
                                            "afk": False})
            m = watcher.until(is_presence(alice["id"], "online"), 10, "alice online")
            check(m["d"]["guild_id"] == gid, "guild_id %r" % m["d"])
            check(m["d"]["client_status"] == {"web": "online"}, "client_status %r" % m["d"])
            chattest.log("ok: alice online seen by the watcher")
            a.send({"op": 3, "d": {"since": 0, "activities": [{"name": "chess", "type": 0}],
                                   "status": "dnd", "afk": False}})
            m = watcher.until(is_presence(alice["id"], "dnd"), 10, "alice dnd")
            check(m["d"]["activities"][0]["name"] == "chess", "activity %r" % m["d"])
            check(m["d"]["client_status"] == {"web": "dnd"}, "client_status %r" % m["d"])
            status, _, _ = rest(port, "POST", "/channels/%s/messages" % cid, admin,
                                {"content": "marker-1"})
            check(status == 200, "marker message")
            seen = []
            blind.until(lambda x: x.get("t") == "MESSAGE_CREATE", 10, "marker on blind", seen)
            check(not [x for x in seen if x["t"] == "PRESENCE_UPDATE"],
                  "no PRESENCE_UPDATE without GUILD_PRESENCES: %r" % seen)
            chattest.log("ok: op 3 -> PRESENCE_UPDATE with GUILD_PRESENCES, none without")
            late = Session(port)
            _, creates = late.login(bob["token"], WATCH)
            pres = {p["user"]["id"]: p for p in creates[gid]["presences"]}
            check(alice["id"] in pres and pres[alice["id"]]["status"] == "dnd",
                  "GUILD_CREATE presences %r" % creates[gid]["presences"])
            late.close()
            chattest.log("ok: GUILD_CREATE carries presences")

            # -- 2. admin routes and chatctl
            status, body, _ = rest(port, "GET", "/admin/presence/users/%s" % alice["id"], admin)
            check(status == 200 and body["status"] == "dnd" and body["since"], "admin %r" % body)
            status, _, _ = rest(port, "GET", "/admin/presence/users/%s" % alice["id"],
                                bob["token"])
            check(status == 403, "non-admin gets 403, got %s" % status)
            rc, out, err = chatctl(cfg, "presence", "--json", "alice" + suffix)
            check(rc == 0, "chatctl presence: %s %s" % (rc, err))
            obj = json.loads(out.strip().splitlines()[0])
            check(set(obj) == {"user_id", "status", "since", "client_status"}, "keys %r" % obj)
            check(obj["user_id"] == alice["id"] and obj["status"] == "dnd", "obj %r" % obj)
            rc, out, err = chatctl(cfg, "presence", "--guild", gid)
            check(rc == 0 and "dnd 1" in out and "alice" not in err, "guild: %s %r %r" % (rc, out, err))
            rc, out, err = chatctl(cfg, "presence", "--json", "--guild", gid)
            objs = [json.loads(x) for x in out.strip().splitlines()]
            ids = {o["user_id"]: o["status"] for o in objs}
            check(rc == 0 and ids.get(alice["id"]) == "dnd" and ids.get(bob["id"]) == "online",
                  "guild json %r" % objs)
            rc, out, err = chatctl(cfg, "presence")
            check(rc == 64, "no USER and no --guild is a usage error, got %s" % rc)
            chattest.log("ok: admin routes and chatctl presence")

            # -- 3. kill -9 of a gateway node
            gport = chattest.free_port()
            logf = open(os.path.join(tmp, "gatewayd2.log"), "ab")
            env = dict(os.environ)
            env.pop("NOTIFY_SOCKET", None)
            gw2 = subprocess.Popen(
                [chattest.program("gatewayd"), "--config", cfg.path,
                 "--set", "gateway.listen=127.0.0.1:%d" % gport],
                stdout=logf, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            try:
                chattest.wait_for(
                    lambda: chattest.http_get("127.0.0.1", gport, "/readyz")[0] == 200, 30,
                    "second gatewayd")
                c = Session(gport)
                c.login(carol["token"], BLIND)
                watcher.until(is_presence(carol["id"], "online"), 10, "carol online")
                killed = time.monotonic()
                os.kill(gw2.pid, signal.SIGKILL)
                watcher.until(is_presence(carol["id"], "offline"), LEASE_MS / 1000.0 + 10,
                              "carol offline after kill -9")
                took = time.monotonic() - killed
                chattest.log("ok: carol offline %.2fs after kill -9 of her gatewayd "
                             "(lease %d ms)" % (took, LEASE_MS))
                check(took <= LEASE_MS / 1000.0 + 1.5, "offline within the lease: %.2fs" % took)
            finally:
                if gw2.poll() is None:
                    gw2.kill()
                gw2.wait()
                logf.close()

            # -- 4. kill -9 of presenced: restarted by chatd, nobody flickers offline
            old = chatd.child("presenced")
            os.kill(old["pid"], signal.SIGKILL)
            chatd.wait_until(
                lambda cs: any(x["name"] == "presenced" and x["state"] == "running"
                               and x["pid"] not in (0, old["pid"]) for x in cs),
                30, "presenced restarted")

            def synced():
                status, body, _ = rest(port, "GET", "/admin/presence/users/%s" % alice["id"],
                                       admin)
                return status == 200 and body["status"] == "dnd"
            chattest.wait_for(synced, 15, "presenced rebuilt alice's presence")
            # Two lease periods: any node the new presenced missed would expire now.
            flicker = watcher.drain_for(2 * LEASE_MS / 1000.0 + 1)
            bad = [x for x in flicker if x["t"] == "PRESENCE_UPDATE"]
            check(not bad, "no PRESENCE_UPDATE after the presenced restart: %r" % bad)
            status, body, _ = rest(port, "GET", "/admin/presence/guilds/%s" % gid, admin)
            check(status == 200 and body["counts"]["dnd"] == 1 and body["counts"]["online"] >= 2,
                  "guild after restart %r" % body)
            # And it still works: alice goes idle.
            a.send({"op": 3, "d": {"since": 0, "activities": [], "status": "idle", "afk": True}})
            watcher.until(is_presence(alice["id"], "idle"), 10, "alice idle after restart")
            chattest.log("ok: presenced kill -9: restarted, resynced, no flicker")

            for s in (watcher, blind, a):
                s.close()
            chatd.stop()
    chattest.log("PASS")


if __name__ == "__main__":
    main()
