"""gatewayd against the real daemon set (nats-server, stored, guildd, gatewayd).

The gateway WebSocket (HELLO, heartbeats before IDENTIFY, READY + GUILD_CREATE, dispatches
with per-session sequence numbers, intents, zlib-stream), the REST routes, and bad input:
every close code and REST error of PROTOCOL.md, after which every daemon still answers
/healthz and a normal message still goes through. SIGTERM: RECONNECT, close 1001, exit 0.

This module also holds the harness (DaemonSet, Gateway, rest()) that
test_gateway_resume.py imports.
"""

import http.client
import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib

import chattest

try:
    import websocket  # Debian's python3-websocket (websocket-client)
except ImportError:  # pragma: no cover
    chattest.skip("python3-websocket is not installed")

GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15


# ---------------------------------------------------------------------------------------
# Harness


class DaemonSet:
    """nats-server, stored, guildd and gatewayd of our own, each waited for (readyz)."""

    def __init__(self, tmp, gateway=None):
        extra = {"nats": {"spawn": False}, "store": {"sync": "none"},
                 "gateway": {"threads": 2}, "log": {"level": "info"}}
        extra["gateway"].update(gateway or {})
        self.cfg = chattest.write_config(tmp, extra)
        self.tmp = tmp
        self.procs = {}

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.dump_logs()
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        if exc[0] is not None:
            self.dump_logs()
        self.stop()
        return False

    def spawn(self, name, cmd):
        logf = open(os.path.join(self.tmp, name + ".log"), "ab")
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                             env=env, start_new_session=True)
        self.procs[name] = p
        return p

    def wait_ready(self, name, port, timeout=30):
        def ready():
            if self.procs[name].poll() is not None:
                raise chattest.ChatTestError("%s exited with %s" % (name, self.procs[name].returncode))
            return chattest.http_get("127.0.0.1", port, "/readyz")[0] == 200
        chattest.wait_for(ready, timeout, name + " /readyz")

    def start(self):
        nats_port = self.cfg.ports["nats"]
        self.spawn("nats", [chattest.find_nats_server(), "-a", "127.0.0.1", "-p", str(nats_port)])

        def nats_up():
            import socket
            s = socket.create_connection(("127.0.0.1", nats_port), timeout=1)
            s.close()
            return True
        chattest.wait_for(nats_up, 15, "nats-server")
        for name, port_key in (("stored", "store"), ("guildd", "guild"), ("gatewayd", "gateway")):
            self.spawn(name, [chattest.program(name), "--config", self.cfg.path])
            self.wait_ready(name, self.cfg.ports[port_key])
        token_path = os.path.join(self.cfg.data_dir, "admin.token")
        chattest.wait_for(lambda: os.path.exists(token_path), 10, "admin.token")
        with open(token_path) as f:
            self.admin_token = f.read().strip()

    def start_extra_gateway(self, name, *sets):
        """Another gatewayd on the same bus (gatewayd is stateless), with --set overrides."""
        port = chattest.free_port()
        cmd = [chattest.program("gatewayd"), "--config", self.cfg.path,
               "--set", "gateway.listen=127.0.0.1:%d" % port]
        for s in sets:
            cmd += ["--set", s]
        self.spawn(name, cmd)
        self.wait_ready(name, port)
        return port

    def stop(self):
        for name in reversed(list(self.procs)):
            p = self.procs[name]
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()

    def dump_logs(self):
        for name in self.procs:
            path = os.path.join(self.tmp, name + ".log")
            try:
                with open(path, "rb") as f:
                    lines = f.read().decode("utf-8", "replace").splitlines()[-40:]
                print("--- %s log (tail) ---\n%s" % (name, "\n".join(lines)), flush=True)
            except OSError:
                pass

    @property
    def port(self):
        return self.cfg.ports["gateway"]


rest = chattest.rest  # (status, JSON, headers); other tests import it from here


def check(cond, what):
    if not cond:
        raise chattest.ChatTestError(what)
    return cond


class Gateway:
    """One gateway WebSocket connection with helpers for frames and closes."""

    def __init__(self, port, query="v=10&encoding=json", path="/gateway", timeout=10):
        self.ws = websocket.create_connection("ws://127.0.0.1:%d%s?%s" % (port, path, query),
                                              timeout=timeout)
        self.inflater = zlib.decompressobj() if "zlib-stream" in query else None
        self.buffer = b""
        self.seq = None

    def send(self, obj):
        self.ws.send(json.dumps(obj))

    def recv(self):
        """The next payload as a dict; raises Closed(code) on a close frame."""
        while True:
            opcode, data = self.ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
                raise Closed(code)
            if opcode in (websocket.ABNF.OPCODE_PING, websocket.ABNF.OPCODE_PONG):
                continue
            if opcode == websocket.ABNF.OPCODE_BINARY:
                self.buffer += data
                if not self.buffer.endswith(b"\x00\x00\xff\xff"):
                    continue
                data = self.inflater.decompress(self.buffer)
                self.buffer = b""
            msg = json.loads(data)
            if msg.get("s") is not None:
                self.seq = msg["s"]
            return msg

    def expect_close(self):
        """Reads until the server closes; returns the close code."""
        try:
            while True:
                self.recv()
        except Closed as c:
            return c.code
        except websocket.WebSocketConnectionClosedException:
            return 1006

    def dispatch(self, t=None):
        """The next dispatch (skipping heartbeat ACKs), checked to be `t` if given."""
        while True:
            msg = self.recv()
            if msg["op"] == 11:
                continue
            check(msg["op"] == 0, "expected a dispatch, got %r" % msg)
            if t is not None:
                check(msg["t"] == t, "expected %s, got %s: %r" % (t, msg["t"], msg))
            return msg

    def identify(self, token, intents=GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT, extra=None):
        d = {"token": token, "intents": intents,
             "properties": {"os": "linux", "browser": "test", "device": "test"}}
        d.update(extra or {})
        self.send({"op": 2, "d": d})

    def login(self, token, intents=GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT):
        """HELLO, IDENTIFY, READY, one GUILD_CREATE per READY guild. Returns (ready, creates)."""
        hello = self.recv()
        check(hello["op"] == 10, "first frame is HELLO: %r" % hello)
        self.identify(token, intents)
        ready = self.dispatch("READY")
        creates = {}
        for _ in ready["d"]["guilds"]:
            gc = self.dispatch("GUILD_CREATE")
            creates[gc["d"]["id"]] = gc
        return ready, creates

    def drop(self):
        """Drops the TCP connection without a close frame."""
        self.ws.sock.shutdown(2)
        self.ws.sock.close()

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass


class Closed(Exception):
    def __init__(self, code):
        super().__init__("closed %d" % code)
        self.code = code


def make_world(port, admin):
    """A guild with a text channel, a second user (bob, a member) and his token."""
    status, guild, _ = rest(port, "POST", "/guilds", admin, {"name": "gw-test"})
    check(status in (200, 201), "create guild: %s %r" % (status, guild))
    gid = guild["id"]
    status, chans, _ = rest(port, "GET", "/guilds/%s/channels" % gid, admin)
    check(status == 200, "list channels: %s %r" % (status, chans))
    text = [c for c in chans if c["type"] == 0]
    if text:
        cid = text[0]["id"]
    else:
        status, chan, _ = rest(port, "POST", "/guilds/%s/channels" % gid, admin,
                               {"name": "general", "type": 0})
        check(status in (200, 201), "create channel: %s %r" % (status, chan))
        cid = chan["id"]
    name = "bob%d" % (int(time.time() * 1000) % 100000)
    status, bob, _ = rest(port, "POST", "/admin/users", admin, {"name": name, "bot": True})
    check(status == 200 and bob.get("token"), "create user: %s %r" % (status, bob))
    status, member, _ = rest(port, "PUT", "/guilds/%s/members/%s" % (gid, bob["id"]), admin)
    check(status in (200, 201, 204), "add member: %s %r" % (status, member))
    return gid, cid, bob


# ---------------------------------------------------------------------------------------
# The tests


def test_health_and_login_routes(ds):
    port, admin = ds.port, ds.admin_token
    for path in ("/healthz", "/readyz"):
        check(chattest.http_get("127.0.0.1", port, path)[0] == 200, path)
    status, body = chattest.http_get("127.0.0.1", port, "/metrics")
    check(status == 200 and "chat_gatewayd_sessions" in body, "metrics")

    status, me, headers = rest(port, "GET", "/users/@me", admin)
    check(status == 200, "users/@me %s" % status)
    check(headers["Content-Type"] == "application/json", "exact content type")
    check(isinstance(me["id"], str) and "username" in me and "avatar" in me, "user keys %r" % me)
    check("X-RateLimit-Reset-After" in headers and "X-RateLimit-Bucket" in headers, "rl headers")
    status, app, _ = rest(port, "GET", "/oauth2/applications/@me", admin)
    check(status == 200 and app["id"] == me["id"] and app["icon"] is None, "app %r" % app)
    check(app["owner"]["id"] == me["id"] and app["bot_public"] is True, "app owner")
    status, gw, _ = rest(port, "GET", "/gateway/bot", admin)
    check(status == 200 and "?" not in gw["url"] and gw["url"].startswith("ws://"), "gateway/bot")
    check(gw["session_start_limit"]["max_concurrency"] == 1, "session_start_limit")
    status, gw, _ = rest(port, "GET", "/gateway")
    check(status == 200 and gw["url"].startswith("ws://"), "gateway")
    # /api/v9 is accepted too.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/api/v9/users/@me", headers={"Authorization": admin})  # bare token
    check(conn.getresponse().status == 200, "v9 + bare token")
    conn.close()
    chattest.log("ok: health, login routes")
    return me


def test_session_flow(ds, me, gid, cid, bob):
    port, admin = ds.port, ds.admin_token
    g = Gateway(port)
    hello = g.recv()
    check(hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0, "HELLO %r" % hello)
    g.send({"op": 1, "d": None})  # before IDENTIFY, as discord.py does
    check(g.recv()["op"] == 11, "heartbeat ACK before identify")
    g.identify(admin, GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT)
    ready = g.dispatch("READY")
    check(ready["s"] == 1, "READY s=1")
    d = ready["d"]
    for key in ("v", "user", "guilds", "session_id", "resume_gateway_url", "application", "shard"):
        check(key in d, "READY has %s" % key)
    check(d["user"]["id"] == me["id"] and d["application"]["id"] == me["id"], "READY user/app")
    check(d["application"]["flags"] == 0, "application flags")
    ids = [x["id"] for x in d["guilds"]]
    check(gid in ids and all(x["unavailable"] for x in d["guilds"]), "READY guilds")
    creates = {}
    for _ in ids:
        gc = g.dispatch("GUILD_CREATE")
        creates[gc["d"]["id"]] = gc["d"]
    check(set(creates) == set(ids), "one GUILD_CREATE per guild")
    full = creates[gid]
    for key in ("id", "name", "owner_id", "channels", "members", "member_count", "joined_at",
                "large", "unavailable", "roles", "emojis", "stickers", "features", "voice_states",
                "presences", "threads"):
        check(key in full, "GUILD_CREATE has %s" % key)
    check(any(c["id"] == cid for c in full["channels"]), "channel in GUILD_CREATE")
    check(any(r["id"] == gid for r in full["roles"]), "@everyone role")
    check(all("flags" in m and "roles" in m for m in full["members"]), "member keys")
    check(full["member_count"] == len(full["members"]), "member_count")

    # bob: no MESSAGE_CONTENT intent; compressed transport.
    b = Gateway(port, "v=10&encoding=json&compress=zlib-stream")
    b.login(bob["token"], GUILDS | GUILD_MESSAGES)

    # REST create -> MESSAGE_CREATE on both sockets, s incrementing.
    last = g.seq
    for i in range(3):
        status, msg, _ = rest(port, "POST", "/channels/%s/messages" % cid, admin,
                              {"content": "hello %d" % i, "nonce": "n%d" % i, "tts": False})
        check(status == 200, "create message: %s %r" % (status, msg))
        for key in ("id", "channel_id", "attachments", "embeds", "edited_timestamp", "type",
                    "pinned", "mention_everyone", "tts", "content", "author", "timestamp"):
            check(key in msg, "message has %s" % key)
        ev = g.dispatch("MESSAGE_CREATE")
        check(ev["s"] == last + 1, "s increments: %d after %d" % (ev["s"], last))
        last = ev["s"]
        check(ev["d"]["id"] == msg["id"] and ev["d"]["content"] == "hello %d" % i, "content")
        check(ev["d"]["guild_id"] == gid and ev["d"]["nonce"] == "n%d" % i, "guild_id, nonce")
        check("+00:00" in ev["d"]["timestamp"], "timestamp offset")
        bev = b.dispatch("MESSAGE_CREATE")
        check(bev["d"]["id"] == msg["id"] and bev["d"]["content"] == "", "content hidden for bob")
    first_id = msg["id"]

    # bob's own message: he sees its content.
    status, own, _ = rest(port, "POST", "/channels/%s/messages" % cid, bob["token"],
                          {"content": "from bob"})
    check(status == 200, "bob posts: %s %r" % (status, own))
    check(b.dispatch("MESSAGE_CREATE")["d"]["content"] == "from bob", "own content visible")
    check(g.dispatch("MESSAGE_CREATE")["d"]["content"] == "from bob", "admin sees bob's")

    # History, get, edit, delete.
    status, hist, _ = rest(port, "GET", "/channels/%s/messages?limit=2" % cid, admin)
    check(status == 200 and len(hist) == 2, "history limit 2: %s %r" % (status, hist))
    check(hist[0]["id"] == own["id"], "newest first")
    status, hist, _ = rest(port, "GET", "/channels/%s/messages?before=%s&limit=50" % (cid, own["id"]),
                           admin)
    check(status == 200 and hist and hist[0]["id"] == first_id, "before: %r" % hist)
    status, one, _ = rest(port, "GET", "/channels/%s/messages/%s" % (cid, first_id), admin)
    check(status == 200 and one["id"] == first_id, "get message")
    status, edited, _ = rest(port, "PATCH", "/channels/%s/messages/%s" % (cid, first_id), admin,
                             {"content": "edited"})
    check(status == 200 and edited["content"] == "edited" and edited["edited_timestamp"],
          "edit: %s %r" % (status, edited))
    up = g.dispatch("MESSAGE_UPDATE")
    check(up["d"]["id"] == first_id and up["d"]["content"] == "edited", "MESSAGE_UPDATE")
    status, _, _ = rest(port, "DELETE", "/channels/%s/messages/%s" % (cid, first_id), admin)
    check(status == 204, "delete 204")
    de = g.dispatch("MESSAGE_DELETE")
    check(de["d"]["id"] == first_id and de["d"]["channel_id"] == cid, "MESSAGE_DELETE")

    # Channel events reach GUILDS sessions; bob (no GUILD_MEMBERS) skips member events.
    status, chan, _ = rest(port, "POST", "/guilds/%s/channels" % gid, admin, {"name": "second"})
    check(status in (200, 201), "create channel: %s %r" % (status, chan))
    ce = g.dispatch("CHANNEL_CREATE")
    check(ce["d"]["id"] == chan["id"], "CHANNEL_CREATE")
    check(b.dispatch("MESSAGE_UPDATE")["d"]["content"] == "", "bob's update has no content")
    check(b.dispatch("MESSAGE_DELETE")["d"]["id"] == first_id, "bob MESSAGE_DELETE")
    check(b.dispatch("CHANNEL_CREATE")["d"]["id"] == chan["id"], "bob CHANNEL_CREATE")

    # Guild joins and leaves reach live sessions (chat.evt.user.<id>).
    status, later, _ = rest(port, "POST", "/guilds", admin, {"name": "later"})
    check(status in (200, 201), "create guild later: %s %r" % (status, later))
    check(g.dispatch("GUILD_CREATE")["d"]["id"] == later["id"], "owner gets GUILD_CREATE")
    status, chans, _ = rest(port, "GET", "/guilds/%s/channels" % later["id"], admin)
    if not chans:
        status, c, _ = rest(port, "POST", "/guilds/%s/channels" % later["id"], admin,
                            {"name": "general"})
        check(g.dispatch("CHANNEL_CREATE")["d"]["id"] == c["id"], "owner CHANNEL_CREATE")
        chans = [c]
    later_cid = chans[0]["id"]
    status, _, _ = rest(port, "PUT", "/guilds/%s/members/%s" % (later["id"], bob["id"]), admin)
    check(status in (200, 201, 204), "add bob to later: %s" % status)
    joined = b.dispatch("GUILD_CREATE")["d"]
    check(joined["id"] == later["id"] and any(c["id"] == later_cid for c in joined["channels"]),
          "bob's GUILD_CREATE for the new guild")
    status, msg, _ = rest(port, "POST", "/channels/%s/messages" % later_cid, admin,
                          {"content": "welcome"})
    check(status == 200, "post in later")
    check(b.dispatch("MESSAGE_CREATE")["d"]["id"] == msg["id"], "bob subscribed to the new guild")
    check(g.dispatch("MESSAGE_CREATE")["d"]["id"] == msg["id"], "owner sees it")
    status, _, _ = rest(port, "DELETE", "/guilds/%s/members/%s" % (later["id"], bob["id"]), admin)
    check(status == 204, "remove bob: %s" % status)
    check(b.dispatch("GUILD_DELETE")["d"]["id"] == later["id"], "bob's GUILD_DELETE")
    g.close()
    b.close()
    chattest.log("ok: session flow (READY, GUILD_CREATE, MESSAGE_*, intents, zlib-stream)")


def close_code_of(port, frames, query="v=10&encoding=json", login_token=None):
    g = Gateway(port, query)
    try:
        if query.startswith("v=10"):
            check(g.recv()["op"] == 10, "HELLO")
        if login_token:
            g.identify(login_token)
            g.dispatch("READY")
        for f in frames:
            g.ws.send(f if isinstance(f, str) else json.dumps(f))
        return g.expect_close()
    finally:
        g.close()


def test_gateway_bad_input(ds):
    port, admin = ds.port, ds.admin_token
    cases = [
        ("oversized frame", ['{"op":1,"d":"' + "x" * 5000 + '"}'], 4002),
        ("bad JSON", ["{not json"], 4002),
        ("not an object", ["[1,2]"], 4002),
        ("unknown op", [{"op": 99, "d": None}], 4001),
        ("op 3 before identify", [{"op": 3, "d": {"status": "online"}}], 4003),
        ("bad token", [{"op": 2, "d": {"token": "nope", "intents": 1,
                                       "properties": {}}}], 4004),
        ("invalid intents", [{"op": 2, "d": {"token": admin, "intents": 1 << 30,
                                             "properties": {}}}], 4013),
        ("bad shard", [{"op": 2, "d": {"token": admin, "intents": 1, "shard": [2, 1],
                                       "properties": {}}}], 4010),
    ]
    for what, frames, want in cases:
        got = close_code_of(port, frames)
        check(got == want, "%s: close %s, want %s" % (what, got, want))
    got = close_code_of(port, [{"op": 2, "d": {"token": admin, "intents": 1}}], login_token=admin)
    check(got == 4005, "second IDENTIFY: %s" % got)
    got = close_code_of(port, [], query="v=9&encoding=json")
    check(got == 4012, "v=9: %s" % got)
    got = close_code_of(port, [], query="encoding=json")
    check(got == 4012, "no v: %s" % got)
    try:
        Gateway(port, "v=10&encoding=etf")
        check(False, "etf upgrade must be refused")
    except websocket.WebSocketBadStatusException as e:
        check(e.status_code == 400, "etf: %s" % e.status_code)
    # 121 events in a minute.
    g = Gateway(port)
    g.recv()
    try:
        for _ in range(125):
            g.send({"op": 1, "d": None})
    except (websocket.WebSocketConnectionClosedException, BrokenPipeError, ConnectionResetError):
        pass
    acks = 0
    code = None
    try:
        while True:
            if g.recv()["op"] == 11:
                acks += 1
    except Closed as c:
        code = c.code
    except websocket.WebSocketConnectionClosedException:
        code = 1006
    g.close()
    check(code == 4008 and acks == 120, "rate limit: code %s after %d ACKs" % (code, acks))
    chattest.log("ok: gateway close codes")


def test_rest_bad_input(ds, gid, cid, bob):
    port, admin = ds.port, ds.admin_token

    def expect(method, path, token, body=None, raw=None, status=None, code=None):
        st, b, h = rest(port, method, path, token, body, raw)
        check(st == status, "%s %s: status %s, want %s (%r)" % (method, path, st, status, b))
        if code is not None:
            check(b and b.get("code") == code, "%s %s: code %r, want %s" % (method, path, b, code))
        check(h["Content-Type"] == "application/json", "error content type")
        return b

    expect("GET", "/users/@me", "not-a-token", status=401, code=40001)
    st, b, _ = rest(port, "GET", "/users/@me")
    check(st == 401 and b["code"] == 40001, "no token: %s %r" % (st, b))
    # A guild bob is not in.
    status, other, _ = rest(port, "POST", "/guilds", admin, {"name": "private"})
    check(status in (200, 201), "second guild")
    status, chans, _ = rest(port, "GET", "/guilds/%s/channels" % other["id"], admin)
    if chans:
        other_cid = chans[0]["id"]
    else:
        status, c, _ = rest(port, "POST", "/guilds/%s/channels" % other["id"], admin,
                            {"name": "x"})
        other_cid = c["id"]
    expect("POST", "/channels/%s/messages" % other_cid, bob["token"], {"content": "hi"},
           status=403, code=50001)
    expect("POST", "/channels/%s/messages" % cid, admin, {"content": ""}, status=400, code=50006)
    expect("POST", "/channels/%s/messages" % cid, admin, {}, status=400, code=50006)
    b = expect("POST", "/channels/%s/messages" % cid, admin, {"content": "x" * 2001},
               status=400, code=50035)
    check(b["errors"]["content"]["_errors"][0]["code"] == "BASE_TYPE_BAD_LENGTH", "nested errors")
    ok = expect("POST", "/channels/%s/messages" % cid, admin, {"content": "é" * 2000}, status=200)
    check(len(ok["content"]) == 2000, "2000 characters accepted")
    b = expect("POST", "/channels/abc/messages", admin, {"content": "x"}, status=400, code=50035)
    check("channel_id" in b["errors"], "malformed id names the field")
    expect("GET", "/channels/%s/messages/12x" % cid, admin, status=400, code=50035)
    expect("GET", "/channels/%s/messages?limit=500" % cid, admin, status=400, code=50035)
    expect("GET", "/channels/%s/messages?before=zz" % cid, admin, status=400, code=50035)
    expect("POST", "/channels/%s/messages" % cid, admin, raw=b'{"content": ', status=400,
           code=50109)
    expect("GET", "/channels/%s/messages/1234567890123" % cid, admin, status=404, code=10008)
    expect("GET", "/no/such/route", admin, status=404)
    expect("DELETE", "/users/@me", admin, status=405)
    chattest.log("ok: REST errors")


def test_still_healthy(ds, cid):
    for name, key in (("stored", "store"), ("guildd", "guild"), ("gatewayd", "gateway")):
        status, _ = chattest.http_get("127.0.0.1", ds.cfg.ports[key], "/healthz")
        check(status == 200, "%s /healthz after bad input: %s" % (name, status))
        check(ds.procs[name].poll() is None, "%s still running" % name)
    g = Gateway(ds.port)
    g.login(ds.admin_token)
    status, msg, _ = rest(ds.port, "POST", "/channels/%s/messages" % cid, ds.admin_token,
                          {"content": "still here"})
    check(status == 200, "message after bad input: %s" % status)
    check(g.dispatch("MESSAGE_CREATE")["d"]["id"] == msg["id"], "dispatch after bad input")
    g.close()
    chattest.log("ok: still healthy after bad input")


def test_heartbeat_timeout(ds):
    port = ds.start_extra_gateway("gatewayd-fast", "gateway.heartbeat_interval_ms=300")
    g = Gateway(port)
    hello = g.recv()
    check(hello["d"]["heartbeat_interval"] == 300, "configured interval")
    start = time.monotonic()
    code = g.expect_close()
    took = time.monotonic() - start
    check(code == 4009, "no heartbeats: close %s" % code)
    check(took < 3, "closed after %.2fs" % took)
    g.close()
    chattest.log("ok: heartbeat timeout 4009 after %.2fs" % took)
    return port


def test_sigterm(ds, port, name):
    g = Gateway(port)
    g.login(ds.admin_token)
    ds.procs[name].send_signal(signal.SIGTERM)
    msg = None
    try:
        while True:
            msg = g.recv()
            if msg["op"] == 7:
                break
    except Closed as c:
        raise chattest.ChatTestError("closed %d before RECONNECT" % c.code)
    check(msg and msg["op"] == 7, "RECONNECT before draining")
    check(g.expect_close() == 1001, "close 1001 on drain")
    check(ds.procs[name].wait(timeout=10) == 0, "gatewayd exits 0 on SIGTERM")
    chattest.log("ok: SIGTERM drain")


def main():
    chattest.require_programs("stored", "guildd", "gatewayd")
    with chattest.TestDir("chat-gw-") as tmp, DaemonSet(tmp) as ds:
        me = test_health_and_login_routes(ds)
        gid, cid, bob = make_world(ds.port, ds.admin_token)
        test_session_flow(ds, me, gid, cid, bob)
        test_gateway_bad_input(ds)
        test_rest_bad_input(ds, gid, cid, bob)
        test_still_healthy(ds, cid)
        fast = test_heartbeat_timeout(ds)
        test_sigterm(ds, fast, "gatewayd-fast")
        test_sigterm(ds, ds.port, "gatewayd")
    chattest.log("PASS")


if __name__ == "__main__":
    main()
