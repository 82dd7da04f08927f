"""Harness for the interop tests: the real daemon set, driven by the real bot libraries.

discord.py 2.2.2 (Debian's python3-discord) runs inside the test process, on the test's
asyncio loop (DpyBot); discord.js 14 (npm, pinned in package.json and package-lock.json)
runs in a node process, djs_agent.js, that the test drives over JSON lines (DjsAgent).
Both are pointed at our gateway with exactly the lines a real bot needs and nothing else:
discord.py's Route.BASE and DiscordWebSocket.DEFAULT_GATEWAY, discord.js's rest.api.

World starts chatd over a temporary config (tests/lib/chattest.py) and builds the cast:
a guild "interop" with channels #general and #other, a guild "private" with #secret that
no bot is a member of, a human user alice, and bot users made on demand. Everything
waits for a condition with a deadline (wait_until); nothing sleeps and hopes.
"""

import asyncio
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

import chattest

HERE = os.path.dirname(os.path.abspath(__file__))

# Gateway intent bits (DISCORD_COMPAT.md 1.9).
GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_MESSAGES = 1 << 9
GUILD_MESSAGE_TYPING = 1 << 11
DIRECT_MESSAGES = 1 << 12
DIRECT_MESSAGE_TYPING = 1 << 14
MESSAGE_CONTENT = 1 << 15
ALL_USED = (GUILDS | GUILD_MEMBERS | GUILD_MESSAGES | GUILD_MESSAGE_TYPING | DIRECT_MESSAGES
            | DIRECT_MESSAGE_TYPING | MESSAGE_CONTENT)

log = chattest.log


class InteropError(AssertionError):
    pass


def check(cond, what):
    if not cond:
        raise InteropError(what)
    return cond


def require():
    """Skips unless the daemons, nats-server and /usr/bin/python3's discord.py exist."""
    chattest.require_programs("chatd", "stored", "guildd", "gatewayd", "chatctl")
    try:
        import discord  # noqa: F401
    except ImportError:
        chattest.skip("discord.py is not installed for %s (apt install python3-discord)"
                      % sys.executable)


async def wait_until(pred, timeout, what, interval=0.02):
    """Polls pred() on the loop until it is truthy (returned) or `timeout` s pass."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise InteropError("timed out after %.1fs waiting for %s" % (timeout, what))
        await asyncio.sleep(interval)


# ---------------------------------------------------------------------------------------
# The daemon set and its cast


rest = chattest.rest  # (status, JSON, headers)


class User:
    def __init__(self, j):
        self.id = j["id"]
        self.name = j.get("username") or j.get("name")
        self.token = j["token"]


class World:
    """chatd and its daemons over a temporary config, plus guilds, channels and users."""

    def __init__(self, gateway=None, extra=None):
        self.gateway_extra = gateway or {}
        self.extra = extra or {}
        self._dir = chattest.TestDir(prefix="interop-")

    def __enter__(self):
        self.tmp = self._dir.__enter__()
        extra = {"store": {"sync": "none"}, "gateway": {"threads": 2}, "log": {"level": "info"}}
        extra["gateway"].update(self.gateway_extra)
        for k, v in self.extra.items():
            extra.setdefault(k, {}).update(v) if isinstance(v, dict) else extra.__setitem__(k, v)
        self.cfg = chattest.write_config(self.tmp, extra)
        self.chatd = chattest.Chatd(self.cfg)
        self.chatd.__enter__()
        try:
            self.chatd.wait_running()
            self.wait_gateway()
            token_path = os.path.join(self.cfg.data_dir, "admin.token")
            chattest.wait_for(lambda: os.path.exists(token_path), 10, "admin.token")
            with open(token_path) as f:
                self.admin = f.read().strip()
            self._cast()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, *exc):
        try:
            self.chatd.__exit__(*exc)
        finally:
            self._dir.__exit__(*exc)
        return False

    @property
    def port(self):
        return self.cfg.ports["gateway"]

    @property
    def api(self):
        return "http://127.0.0.1:%d/api" % self.port

    @property
    def ws(self):
        return "ws://127.0.0.1:%d/" % self.port

    def wait_gateway(self, timeout=30):
        chattest.wait_for(
            lambda: chattest.http_get("127.0.0.1", self.port, "/readyz")[0] == 200,
            timeout, "gatewayd /readyz")

    def rest(self, method, path, token=None, body=None):
        return rest(self.port, method, path, self.admin if token is None else token, body)

    def _ok(self, result, what):
        status, body, _ = result
        check(200 <= status < 300, "%s: %s %r" % (what, status, body))
        return body

    def _cast(self):
        g = self._ok(self.rest("POST", "/guilds", body={"name": "interop"}), "create guild")
        self.guild_id = g["id"]
        self.general = self.channel(self.guild_id, "general")
        self.other = self.channel(self.guild_id, "other")
        p = self._ok(self.rest("POST", "/guilds", body={"name": "private"}), "create guild")
        self.private_guild_id = p["id"]
        self.secret = self.channel(self.private_guild_id, "secret")
        self.alice = self.user("alice", bot=False)

    def channel(self, guild_id, name):
        chans = self._ok(self.rest("GET", "/guilds/%s/channels" % guild_id), "list channels")
        for c in chans:
            if c["name"] == name and c["type"] == 0:
                return c["id"]
        c = self._ok(self.rest("POST", "/guilds/%s/channels" % guild_id,
                               body={"name": name, "type": 0}), "create channel")
        return c["id"]

    def user(self, name, bot=True, guild_id=None):
        """A new user (a member of `guild_id`, default the interop guild)."""
        u = User(self._ok(self.rest("POST", "/admin/users", body={"name": name, "bot": bot}),
                          "create user " + name))
        self._ok(self.rest("PUT", "/guilds/%s/members/%s" % (guild_id or self.guild_id, u.id)),
                 "add member " + name)
        return u

    def send(self, channel_id, content, token=None, **extra):
        """A message posted over REST (by the admin, or the owner of `token`)."""
        body = dict(extra, content=content)
        return self._ok(self.rest("POST", "/channels/%s/messages" % channel_id, token, body),
                        "send")

    def history(self, channel_id, limit=100, token=None):
        return self._ok(self.rest("GET", "/channels/%s/messages?limit=%d" % (channel_id, limit),
                                  token), "history")

    # -- chatctl

    def chatctl(self, *args, token=None, stdin=None, timeout=30):
        cmd = [chattest.program("chatctl"), "--config", self.cfg.path]
        if token:
            cmd += ["--token", token]
        cmd += list(args)
        p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
        check(p.returncode == 0, "%s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr))
        return p.stdout

    def tail(self, channel_id, n=20):
        """`chatctl tail -n N --json`: the channel's last messages as dicts, oldest first."""
        out = self.chatctl("--json", "tail", channel_id, "-n", str(n))
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    # -- gatewayd's process

    def gatewayd_pid(self):
        return self.chatd.child("gatewayd")["pid"]


# ---------------------------------------------------------------------------------------
# discord.py, in process


def point_discord_py_at(world_or_url, ws_url=None):
    """The two lines every discord.py bot needs for a server that is not discord.com."""
    import discord
    import yarl
    api = world_or_url.api if isinstance(world_or_url, World) else world_or_url
    ws = world_or_url.ws if isinstance(world_or_url, World) else ws_url
    discord.http.Route.BASE = api + "/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(ws)


class DpyBot:
    """A discord.Client on the current loop that records every event it gets.

    `events` holds (monotonic time, name, payload) tuples; wait_event() polls it.
    """

    def __init__(self, token, intents_value, name="dpy", **client_options):
        import discord
        self.discord = discord
        self.name = name
        self.token = token
        intents = discord.Intents._from_value(intents_value)
        self.client = discord.Client(intents=intents, **client_options)
        self.events = []
        self.errors = []
        self.task = None
        self._hook()

    def _rec(self, name, payload=None):
        self.events.append((time.monotonic(), name, payload))

    def _hook(self):
        c = self.client
        rec = self._rec

        @c.event
        async def on_connect():
            rec("connect")

        @c.event
        async def on_ready():
            rec("ready")

        @c.event
        async def on_resumed():
            rec("resumed")

        @c.event
        async def on_disconnect():
            rec("disconnect")

        @c.event
        async def on_guild_available(guild):
            rec("guild_available", guild)

        @c.event
        async def on_message(message):
            rec("message", message)

        @c.event
        async def on_message_edit(before, after):
            rec("message_edit", (before, after))

        @c.event
        async def on_raw_message_edit(payload):
            rec("raw_message_edit", payload)

        @c.event
        async def on_raw_message_delete(payload):
            rec("raw_message_delete", payload)

        @c.event
        async def on_raw_bulk_message_delete(payload):
            rec("raw_bulk_message_delete", payload)

        @c.event
        async def on_raw_typing(payload):
            rec("raw_typing", payload)

        @c.event
        async def on_typing(channel, user, when):
            rec("typing", (channel, user, when))

        @c.event
        async def on_guild_join(guild):
            rec("guild_join", guild)

        @c.event
        async def on_guild_channel_create(channel):
            rec("channel_create", channel)

        @c.event
        async def on_socket_raw_receive(msg):  # only with enable_debug_events=True
            try:
                frame = json.loads(msg)
            except (TypeError, ValueError):
                return
            rec("op", frame.get("op"))

        @c.event
        async def on_error(event, *args, **kwargs):
            self.errors.append((event, sys.exc_info()[1]))
            rec("error", (event, sys.exc_info()[1]))

    async def start(self, ready_timeout=20):
        """Logs in and connects; returns the seconds from login to on_ready."""
        t0 = time.monotonic()
        self.t0 = t0
        await self.client.login(self.token)
        self.login_s = time.monotonic() - t0
        self.task = asyncio.ensure_future(self.client.connect())
        await self.wait_event("ready", timeout=ready_timeout)
        self.ready_s = self.first("ready")[0] - t0
        return self.ready_s

    def first(self, name, pred=None):
        for e in self.events:
            if e[1] == name and (pred is None or pred(e[2])):
                return e
        return None

    def all(self, name, pred=None):
        return [e[2] for e in self.events if e[1] == name and (pred is None or pred(e[2]))]

    async def wait_event(self, name, pred=None, timeout=10, count=1):
        """The payloads of the first `count` events `name` (matching pred)."""
        def got():
            if self.task is not None and self.task.done():
                exc = self.task.exception()
                raise InteropError("%s: client stopped: %r" % (self.name, exc))
            found = self.all(name, pred)
            return found[:count] if len(found) >= count else None
        found = await wait_until(got, timeout, "%s: %d x %s" % (self.name, count, name))
        return found[0] if count == 1 else found

    def check_no_errors(self):
        check(not self.errors, "%s: errors in handlers: %r" % (self.name, self.errors))

    async def close(self):
        await self.client.close()
        if self.task is not None:
            try:
                await asyncio.wait_for(self.task, 10)
            except Exception:  # a client stopped by close() may end with its last error
                pass


# ---------------------------------------------------------------------------------------
# discord.js, in a node process


def ensure_node_modules():
    """`npm ci` in tests/interop unless node_modules matches package-lock.json already.

    Works offline from a warm npm cache (--prefer-offline) or online from the registry.
    A lock file serialises concurrent test processes; a stamp records the lock's hash.
    """
    node = shutil.which("node")
    npm = shutil.which("npm")
    if not node or not npm:
        chattest.skip("node and npm are needed for the discord.js tests (apt install nodejs npm)")
    lock = os.path.join(HERE, "package-lock.json")
    with open(lock, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    stamp = os.path.join(HERE, "node_modules", ".interop-stamp")
    with open(os.path.join("/tmp", "chat-interop-npm.lock"), "w") as lf:
        fcntl.flock(lf, fcntl.LOCK_EX)
        try:
            with open(stamp) as f:
                if f.read().strip() == digest:
                    return
        except OSError:
            pass
        log("npm ci in " + HERE)
        t0 = time.monotonic()
        p = subprocess.run([npm, "ci", "--prefer-offline", "--no-audit", "--no-fund"], cwd=HERE,
                           capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            raise InteropError("npm ci failed (%d):\n%s\n%s" % (p.returncode, p.stdout, p.stderr))
        with open(stamp, "w") as f:
            f.write(digest + "\n")
        log("npm ci took %.1fs" % (time.monotonic() - t0))


class DjsError(Exception):
    """An error thrown inside the agent: name, message, and for API errors code/status."""

    def __init__(self, info):
        super().__init__("%s: %s" % (info.get("name"), info.get("message")))
        self.info = info
        self.code = info.get("code")
        self.status = info.get("status")


class DjsAgent:
    """One discord.js Client in a node process (djs_agent.js).

    call(js, **args) runs `js` as the body of an async function of (client, args, state) in
    the agent and returns its JSON-able result (or raises DjsError). Events the agent
    reports are kept in `events` as (monotonic time, name, data).
    """

    def __init__(self, world, token, intents, name="djs", options=None):
        self.world = world
        self.token = token
        self.intents = intents
        self.name = name
        self.options = options or {}
        self.events = []
        self.stderr = []
        self._pending = {}
        self._next = 0

    async def start(self, ready_timeout=25):
        """Starts node and logs in; returns the seconds from login() to clientReady."""
        ensure_node_modules()
        conf = {"api": self.world.api, "token": self.token, "intents": self.intents,
                "options": self.options}
        self.proc = await asyncio.create_subprocess_exec(
            "node", os.path.join(HERE, "djs_agent.js"), json.dumps(conf), cwd=HERE,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, limit=1 << 24)
        self._reader = asyncio.ensure_future(self._read())
        self._err_reader = asyncio.ensure_future(self._read_err())
        ready = await self.wait_event("clientReady", timeout=ready_timeout)
        self.ready_s = ready["ms"] / 1000.0
        return self.ready_s

    async def _read(self):
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                break
            try:
                msg = json.loads(line)
            except ValueError:
                self.stderr.append(line.decode(errors="replace"))
                continue
            if "event" in msg:
                self.events.append((time.monotonic(), msg["event"], msg.get("data")))
            elif msg.get("id") in self._pending:
                fut = self._pending.pop(msg["id"])
                if not fut.done():
                    fut.set_result(msg)
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(InteropError("%s: agent exited\n%s"
                                               % (self.name, "".join(self.stderr[-30:]))))

    async def _read_err(self):
        while True:
            line = await self.proc.stderr.readline()
            if not line:
                break
            self.stderr.append(line.decode(errors="replace"))
            if os.environ.get("INTEROP_VERBOSE"):
                sys.stdout.write("[%s] %s" % (self.name, line.decode(errors="replace")))

    async def call(self, js, timeout=30, **args):
        self._next += 1
        rid = self._next
        fut = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        self.proc.stdin.write((json.dumps({"id": rid, "code": js, "args": args}) + "\n").encode())
        await self.proc.stdin.drain()
        try:
            msg = await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise InteropError("%s: call timed out after %ss: %s" % (self.name, timeout, js))
        if "error" in msg:
            raise DjsError(msg["error"])
        return msg.get("ok")

    def all(self, name, pred=None):
        return [e[2] for e in self.events if e[1] == name and (pred is None or pred(e[2]))]

    async def wait_event(self, name, pred=None, timeout=10, count=1):
        def got():
            if self.proc.returncode is not None:
                raise InteropError("%s: agent exited %s\n%s"
                                   % (self.name, self.proc.returncode, "".join(self.stderr[-30:])))
            found = self.all(name, pred)
            return found[:count] if len(found) >= count else None
        found = await wait_until(got, timeout, "%s: %d x %s" % (self.name, count, name))
        return found[0] if count == 1 else found

    def check_no_errors(self):
        errs = self.all("error")
        check(not errs, "%s: client errors: %r" % (self.name, errs))

    async def close(self):
        if self.proc.returncode is None:
            try:
                self.proc.stdin.write(b'{"id":0,"code":"await client.destroy(); process.exit(0)"}\n')
                await self.proc.stdin.drain()
                await asyncio.wait_for(self.proc.wait(), 10)
            except (asyncio.TimeoutError, ConnectionError):
                self.proc.kill()
                await self.proc.wait()
        for t in (self._reader, self._err_reader):
            try:
                await asyncio.wait_for(t, 5)
            except Exception:
                pass


# ---------------------------------------------------------------------------------------
# A TCP proxy that can cut its connections


class DroppingProxy:
    """Forwards 127.0.0.1:<port> to gatewayd; cut() drops every open connection (both TCP
    sides closed abruptly, no WebSocket close frame), as a network failure would. While
    held (hold()/release()), new connections are accepted but not forwarded: a network
    that is down for a while."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.conns = []
        self.accepted = 0
        self.open = asyncio.Event()
        self.open.set()

    async def start(self, port=0):
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def hold(self):
        self.open.clear()

    def release(self):
        self.open.set()

    async def _serve(self, creader, cwriter):
        self.accepted += 1
        await self.open.wait()
        try:
            ureader, uwriter = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            cwriter.close()
            return
        pair = (cwriter, uwriter)
        self.conns.append(pair)

        async def pipe(r, w):
            try:
                while True:
                    data = await r.read(65536)
                    if not data:
                        break
                    w.write(data)
                    await w.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                try:
                    w.close()
                except Exception:
                    pass

        await asyncio.gather(pipe(creader, uwriter), pipe(ureader, cwriter))
        if pair in self.conns:
            self.conns.remove(pair)

    def cut(self):
        """Aborts every open connection; returns how many there were."""
        n = 0
        for cw, uw in list(self.conns):
            for w in (cw, uw):
                w.transport.abort()
            n += 1
        self.conns.clear()
        return n

    async def close(self):
        self.cut()
        self.server.close()
        await self.server.wait_closed()


def run(main):
    """Runs the async test body; prints PASS or the failure."""
    t0 = time.monotonic()
    asyncio.run(main())
    log("PASS (%.1fs)" % (time.monotonic() - t0))
