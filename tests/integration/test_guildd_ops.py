"""guildd over a real bus with a real stored: a nats-server of our own, stored and guildd
with a temp config, and this script speaking NATS (nats_mini) and msgpack (msgpack_mini)
to chat.guild.<shard> as gatewayd would, and listening on chat.evt.* as gateways do.

Checks: guildd started before stored waits for it (retrying dir.scan) and then becomes
ready; admin.token is written with mode 0600 and authenticates the admin; a wrong token
is 401/40001; user.create (admin only, unique names) returns a working token; guild.create,
channel.create, member.add publish their events; a non-member's msg.create is 403/50001;
empty content 50006, 2001 code points 50035 "content", 2000 emoji accepted; pipelined
msg.create events appear on chat.evt.guild.<id> in id order; msg.list returns them newest
first, with paging errors (limit, more than one anchor); edit/delete rules and events;
DMs; token rotation; malformed requests answered, not fatal; metrics; a restart reloads
the directory from stored; with stored gone, writes are 503; SIGTERM exits 0.
"""

import os
import signal
import socket
import stat
import subprocess
import sys
import time

import chattest
from msgpack_mini import packb, unpackb
from nats_mini import NatsClient

GUILD_SUBJECT = "chat.guild.0"


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    chattest.log("ok: " + what)


class Daemon:
    """One daemon process (stored or guildd) with NOTIFY_SOCKET readiness and a log file."""

    started = []

    def __init__(self, name, tmp, cfg, args=()):
        self.name, self.tmp, self.cfg, self.args = name, tmp, cfg, list(args)
        self.proc = None
        self.notify = None
        self.log_path = os.path.join(tmp, name + ".log")

    def start(self):
        notify_path = os.path.join(self.tmp, self.name + ".notify")
        if os.path.exists(notify_path):
            os.unlink(notify_path)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(notify_path)
        env = dict(os.environ, NOTIFY_SOCKET=notify_path)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [chattest.program(self.name), "--config", self.cfg.path] + self.args,
            stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        Daemon.started.append(self)
        return self

    def wait_ready(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("%s exited with %d before READY=1\n%s"
                                     % (self.name, self.proc.returncode, self.log_tail()))
            self.notify.settimeout(0.1)
            try:
                msg = self.notify.recv(4096).decode()
            except socket.timeout:
                continue
            if "READY=1" in msg.split("\n"):
                return self
        raise AssertionError("%s not ready after %.0fs\n%s"
                             % (self.name, timeout, self.log_tail()))

    def ready_now(self, timeout=0.2):
        """True if READY=1 arrived within timeout (without waiting long)."""
        self.notify.settimeout(timeout)
        try:
            return "READY=1" in self.notify.recv(4096).decode().split("\n")
        except socket.timeout:
            return False

    def stop(self, timeout=30.0):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s still running %.0fs after SIGTERM" % (self.name, timeout))

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""


class Client:
    """Requests to guildd on one connection; events on another (nats_mini's request()
    skips messages that are not its reply, so events must not share its socket)."""

    def __init__(self, port):
        self.nc = NatsClient("127.0.0.1", port, name="req")
        self.ev = NatsClient("127.0.0.1", port, name="evt")
        self.pending = []
        self.sync = 0

    def call(self, token, op, timeout=10.0, **fields):
        req = {"v": 1, "op": op, "token": token}
        req.update(fields)
        return unpackb(self.nc.request(GUILD_SUBJECT, packb(req), timeout))

    def raw(self, data, timeout=10.0):
        return unpackb(self.nc.request(GUILD_SUBJECT, data, timeout))

    def watch(self, subject):
        """Subscribes and makes sure the server registered it: a message published on the
        same connection after the SUB comes back only once the SUB is in place."""
        self.ev.subscribe(subject)
        self.sync += 1
        sync = "_sync.%d.%d" % (id(self), self.sync)
        self.ev.subscribe(sync)
        self.ev.publish(sync, b"")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            m = self.ev.next_msg(max(0.0, deadline - time.monotonic()))
            if m is None:
                break
            if m[0] == sync:
                return
            self.pending.append(m)
        raise AssertionError("subscription to %s not confirmed" % subject)

    def event(self, timeout=5.0):
        m = self.pending.pop(0) if self.pending else self.ev.next_msg(timeout)
        if m is None:
            raise AssertionError("no event within %.1fs" % timeout)
        return m[0], unpackb(m[2])

    def close(self):
        self.nc.close()
        self.ev.close()


def expect_error(reply, status, code, errors=None, what=""):
    ok = reply["status"] == status and reply["code"] == code
    if errors is not None:
        ok = ok and reply["errors"] == errors
    if not ok:
        raise AssertionError("%s: expected %d/%d%s, got %r"
                             % (what, status, code, " " + errors if errors else "",
                                {k: reply[k] for k in ("status", "code", "message", "errors")}))
    chattest.log("ok: %s -> %d/%d %s" % (what, status, code, errors or ""))


def expect_ok(reply, what, status=200):
    if reply["status"] != status:
        raise AssertionError("%s: expected %d, got %r" % (what, status, reply))
    return reply


def metric(body, line_prefix):
    for line in body.splitlines():
        if line.startswith(line_prefix):
            return float(line.split()[-1])
    return None


def scenario(cfg, cli, stored, guildd):
    ports = cfg.ports
    token_path = os.path.join(cfg.data_dir, "admin.token")
    mode = stat.S_IMODE(os.stat(token_path).st_mode)
    check(mode == 0o600, "admin.token has mode 0600 (got %o)" % mode)
    admin_token = open(token_path).read().strip()

    # -- authentication
    r = expect_ok(cli.call(admin_token, "auth"), "auth admin")
    check(r["users"][0]["name"] == "admin" and r["users"][0]["admin"] is True,
          "admin.token authenticates the admin user")
    expect_error(cli.call(admin_token + "x", "auth"), 401, 40001, what="wrong token")
    expect_error(cli.call("", "auth"), 401, 40001, what="no token")
    expect_error(cli.call("garbage", "guild.list"), 401, 40001, what="garbage token")

    # -- users
    r = expect_ok(cli.call(admin_token, "user.create", name="alice"), "user.create alice")
    alice, alice_token = r["users"][0], r["token"]
    check(alice_token.count(".") == 1 and not alice["admin"], "alice has a token of our shape")
    r = expect_ok(cli.call(admin_token, "user.create", name="bob", flag=True), "user.create bob")
    bob, bob_token = r["users"][0], r["token"]
    check(bob["bot"] is True, "bob is a bot")
    r = expect_ok(cli.call(admin_token, "user.create", name="carol"), "user.create carol")
    carol, carol_token = r["users"][0], r["token"]
    expect_error(cli.call(admin_token, "user.create", name="alice"), 400, 50035, "name",
                 "duplicate user name")
    expect_error(cli.call(admin_token, "user.create", name="no spaces"), 400, 50035, "name",
                 "bad user name")
    expect_error(cli.call(alice_token, "user.create", name="eve"), 403, 50013,
                 what="user.create by a non-admin")
    r = expect_ok(cli.call(alice_token, "auth"), "auth alice")
    check(r["users"][0]["id"] == alice["id"], "alice's token authenticates alice")
    r = expect_ok(cli.call(alice_token, "user.find", name="bob"), "user.find bob")
    check(r["users"][0]["id"] == bob["id"], "user.find resolves a name")
    expect_error(cli.call(alice_token, "user.find", name="nobody"), 404, 10013,
                 what="user.find unknown")

    # -- guilds and channels
    cli.watch("chat.evt.user.%d" % alice["id"])
    r = expect_ok(cli.call(alice_token, "guild.create", name="ops"), "guild.create")
    guild = r["guilds"][0]
    general = r["channels"][0]
    check(guild["owner_id"] == alice["id"] and general["name"] == "general",
          "guild owned by alice with a #general channel")
    subj, ev = cli.event()
    check(subj == "chat.evt.user.%d" % alice["id"] and ev["t"] == "GUILD_CREATE"
          and ev["guild"]["id"] == guild["id"] and len(ev["members"]) == 1,
          "GUILD_CREATE to the owner")
    gsubj = "chat.evt.guild.%d" % guild["id"]
    cli.watch(gsubj)
    cli.watch("chat.evt.user.%d" % bob["id"])

    r = expect_ok(cli.call(alice_token, "channel.create", guild_id=guild["id"], name="alerts"),
                  "channel.create")
    alerts = r["channels"][0]
    subj, ev = cli.event()
    check(subj == gsubj and ev["t"] == "CHANNEL_CREATE" and ev["channel"]["id"] == alerts["id"],
          "CHANNEL_CREATE on the guild subject")
    expect_error(cli.call(bob_token, "channel.create", guild_id=guild["id"], name="x"),
                 403, 50001, what="channel.create by a non-member")
    expect_error(cli.call(alice_token, "channel.create", guild_id=guild["id"] + 1, name="x"),
                 404, 10004, what="channel.create in an unknown guild")

    # -- membership is checked on reads and writes
    expect_error(cli.call(bob_token, "msg.create", channel_id=general["id"], content="hi"),
                 403, 50001, what="msg.create by a non-member")
    expect_error(cli.call(bob_token, "msg.list", channel_id=general["id"]), 403, 50001,
                 what="msg.list by a non-member")
    expect_error(cli.call(alice_token, "msg.create", channel_id=12345, content="hi"),
                 404, 10003, what="msg.create in an unknown channel")
    expect_error(cli.call(carol_token, "member.add", guild_id=guild["id"], user_id=bob["id"]),
                 403, 50001, what="member.add by an outsider")

    r = expect_ok(cli.call(alice_token, "member.add", guild_id=guild["id"], user_id=bob["id"]),
                  "member.add bob")
    check(r["members"][0]["user_id"] == bob["id"], "member.add returns the member")
    seen = {}
    for _ in range(2):
        subj, ev = cli.event()
        seen[(subj, ev["t"])] = ev
    check((gsubj, "GUILD_MEMBER_ADD") in seen, "GUILD_MEMBER_ADD on the guild subject")
    joined = seen.get(("chat.evt.user.%d" % bob["id"], "GUILD_CREATE"))
    check(joined is not None and len(joined["channels"]) == 2 and len(joined["members"]) == 2,
          "GUILD_CREATE with channels and members to the added user")
    r = expect_ok(cli.call(bob_token, "guilds.mine"), "guilds.mine")
    check([g["id"] for g in r["guilds"]] == [guild["id"]] and len(r["channels"]) == 2
          and len(r["members"]) == 2, "guilds.mine has the guild, its channels and members")
    expect_error(cli.call(alice_token, "member.add", guild_id=guild["id"], user_id=999),
                 404, 10013, what="member.add of an unknown user")

    # -- content rules
    expect_error(cli.call(bob_token, "msg.create", channel_id=general["id"], content=""),
                 400, 50006, what="empty content")
    expect_error(cli.call(bob_token, "msg.create", channel_id=general["id"], content="a" * 2001),
                 400, 50035, "content", "2001 characters")
    r = expect_ok(cli.call(bob_token, "msg.create", channel_id=general["id"],
                           content="\U0001F600" * 2000), "2000 emoji (8000 bytes)")
    _, ev = cli.event()
    check(ev["t"] == "MESSAGE_CREATE" and ev["message"]["id"] == r["messages"][0]["id"],
          "2000 code points accepted and published")
    expect_error(cli.call(bob_token, "msg.create", channel_id=general["id"], content="x",
                          nonce="n" * 26), 400, 50035, "nonce", "long nonce")

    # -- pipelined creates: replies all 200, events in id order on the guild subject
    n = 30
    replies = []
    for i in range(n):
        rs = cli.nc.new_reply()
        replies.append(rs)
        req = {"v": 1, "op": "msg.create", "token": bob_token, "channel_id": general["id"],
               "content": "message %d <@%d>" % (i, alice["id"]), "nonce": str(i)}
        cli.nc.publish(GUILD_SUBJECT, packb(req), rs)
    answers = {}
    deadline = time.monotonic() + 20
    while len(answers) < n and time.monotonic() < deadline:
        m = cli.nc.next_msg(max(0.0, deadline - time.monotonic()))
        if m and m[0] in replies:
            answers[m[0]] = unpackb(m[2])
    check(len(answers) == n and all(a["status"] == 200 for a in answers.values()),
          "%d pipelined msg.create all answered 200" % n)
    created = [answers[rs]["messages"][0] for rs in replies]
    events = []
    for _ in range(n):
        subj, ev = cli.event()
        check_subject = subj == gsubj and ev["t"] == "MESSAGE_CREATE"
        if not check_subject:
            raise AssertionError("unexpected event %s %s" % (subj, ev["t"]))
        events.append(ev["message"])
    ids = [m["id"] for m in events]
    check(ids == sorted(ids) and len(set(ids)) == n, "MESSAGE_CREATE events in id order")
    check([m["nonce"] for m in events] == [str(i) for i in range(n)],
          "events in request order")
    check(sorted(ids) == sorted(m["id"] for m in created), "every answered message published")
    check(events[0]["mentions"] == [alice["id"]] and events[0]["author_id"] == bob["id"]
          and events[0]["author_name"] == "bob" and events[0]["author_bot"] is True,
          "author fields and mentions filled")

    # -- history
    r = expect_ok(cli.call(alice_token, "msg.list", channel_id=general["id"], limit=5),
                  "msg.list")
    got = [m["id"] for m in r["messages"]]
    check(got == sorted(ids, reverse=True)[:5], "msg.list returns the newest first")
    r = expect_ok(cli.call(alice_token, "msg.list", channel_id=general["id"], limit=100),
                  "msg.list limit 100")
    check(len(r["messages"]) == n + 1, "msg.list sees every message")
    expect_error(cli.call(alice_token, "msg.list", channel_id=general["id"], limit=101),
                 400, 50035, "limit", "limit 101")
    expect_error(cli.call(alice_token, "msg.list", channel_id=general["id"], before=ids[5],
                          after=ids[1]), 400, 50035, what="before and after together")
    r = expect_ok(cli.call(alice_token, "msg.list", channel_id=general["id"], before=ids[3]),
                  "msg.list before")
    check([m["id"] for m in r["messages"]][:3] == [ids[2], ids[1], ids[0]], "before pages back")

    # -- reply, edit, delete
    r = expect_ok(cli.call(alice_token, "msg.create", channel_id=general["id"], content="re",
                           ref_message_id=ids[0]), "reply")
    reply_msg = r["messages"][0]
    check(reply_msg["type"] == 19 and reply_msg["ref_channel_id"] == general["id"],
          "a reply is type 19 with ref_channel_id defaulted")
    cli.event()
    expect_error(cli.call(alice_token, "msg.edit", channel_id=general["id"], message_id=ids[0],
                          content="hacked"), 403, 50005, what="edit someone else's message")
    r = expect_ok(cli.call(bob_token, "msg.edit", channel_id=general["id"], message_id=ids[0],
                           content="edited"), "msg.edit")
    check(r["messages"][0]["content"] == "edited" and r["messages"][0]["edited_ms"] > 0,
          "edit sets content and edited_ms")
    _, ev = cli.event()
    check(ev["t"] == "MESSAGE_UPDATE" and ev["message"]["id"] == ids[0], "MESSAGE_UPDATE")
    expect_error(cli.call(carol_token, "msg.delete", channel_id=general["id"],
                          message_id=ids[1]), 403, 50001, what="delete by a non-member")
    expect_ok(cli.call(alice_token, "msg.delete", channel_id=general["id"], message_id=ids[1]),
              "msg.delete by the guild owner", 204)
    _, ev = cli.event()
    check(ev["t"] == "MESSAGE_DELETE" and ev["ids"] == [ids[1]], "MESSAGE_DELETE")
    expect_error(cli.call(alice_token, "msg.get", channel_id=general["id"], message_id=ids[1]),
                 404, 10008, what="msg.get of a deleted message")
    r = expect_ok(cli.call(bob_token, "msg.get", channel_id=general["id"], message_id=ids[2]),
                  "msg.get")
    check(r["messages"][0]["id"] == ids[2], "msg.get returns the message")
    expect_error(cli.call(alice_token, "msg.bulk_delete", channel_id=general["id"],
                          ids=[ids[2]]), 400, 50035, what="bulk delete of one id")
    expect_ok(cli.call(alice_token, "msg.bulk_delete", channel_id=general["id"],
                       ids=[ids[2], ids[3]]), "msg.bulk_delete", 204)
    _, ev = cli.event()
    check(ev["t"] == "MESSAGE_DELETE_BULK" and sorted(ev["ids"]) == [ids[2], ids[3]],
          "MESSAGE_DELETE_BULK")
    expect_ok(cli.call(bob_token, "typing", channel_id=general["id"]), "typing", 204)
    _, ev = cli.event()
    check(ev["t"] == "TYPING_START" and ev["user_id"] == bob["id"], "TYPING_START")

    # -- admins bypass membership
    expect_ok(cli.call(admin_token, "msg.list", channel_id=general["id"], limit=1),
              "admin reads a guild it is not in")

    # -- DMs
    cli.watch("chat.evt.user.%d" % carol["id"])
    r = expect_ok(cli.call(carol_token, "dm.open", user_id=bob["id"]), "dm.open")
    dm = r["channels"][0]
    check(dm["type"] == 1 and sorted(dm["recipients"]) == sorted([bob["id"], carol["id"]]),
          "a DM channel between carol and bob")
    r = expect_ok(cli.call(bob_token, "dm.open", user_id=carol["id"]), "dm.open again")
    check(r["channels"][0]["id"] == dm["id"], "dm.open returns the same channel")
    expect_ok(cli.call(carol_token, "msg.create", channel_id=dm["id"], content="psst"), "DM")
    got = {}
    for _ in range(2):
        subj, ev = cli.event()
        got[subj] = ev["t"]
    check(got == {"chat.evt.user.%d" % bob["id"]: "MESSAGE_CREATE",
                  "chat.evt.user.%d" % carol["id"]: "MESSAGE_CREATE"},
          "DM MESSAGE_CREATE to each recipient")
    expect_error(cli.call(alice_token, "msg.list", channel_id=dm["id"]), 403, 50001,
                 what="a third user reads a DM")

    # -- member removal
    expect_ok(cli.call(alice_token, "member.remove", guild_id=guild["id"], user_id=bob["id"]),
              "member.remove", 204)
    got = {}
    for _ in range(2):
        subj, ev = cli.event()
        got[(subj, ev["t"])] = ev
    check((gsubj, "GUILD_MEMBER_REMOVE") in got
          and ("chat.evt.user.%d" % bob["id"], "GUILD_DELETE") in got,
          "GUILD_MEMBER_REMOVE on the guild, GUILD_DELETE to the user")
    expect_error(cli.call(bob_token, "msg.create", channel_id=general["id"], content="hi"),
                 403, 50001, what="msg.create after removal")

    # -- token rotation
    r = expect_ok(cli.call(admin_token, "token.create", user_id=carol["id"]), "token.create")
    carol_new = r["token"]
    expect_error(cli.call(carol_token, "auth"), 401, 40001, what="old token after rotation")
    expect_ok(cli.call(carol_new, "auth"), "new token works")
    expect_ok(cli.call(admin_token, "token.revoke", user_id=carol["id"]), "token.revoke", 204)
    expect_error(cli.call(carol_new, "auth"), 401, 40001, what="revoked token")

    # -- bad input from the bus
    r = cli.raw(b"\x85\xa1v")
    check(r["status"] == 400, "truncated msgpack answered 400")
    r = cli.raw(packb({"v": 99, "op": "auth", "token": admin_token}))
    check(r["status"] == 400, "newer schema version answered 400")
    r = cli.call(admin_token, "no.such.op")
    check(r["status"] == 400 and r["errors"] == "op", "unknown op answered 400")

    # -- health and metrics
    status, _ = chattest.http_get("127.0.0.1", ports["guild"], "/readyz")
    check(status == 200, "/readyz 200")
    status, body = chattest.http_get("127.0.0.1", ports["guild"], "/metrics")
    check(status == 200 and metric(body, 'chat_guildd_requests_total{op="msg.create"}') >= n,
          "requests counted by op")
    check(metric(body, "chat_guildd_users") == 4, "users gauge")
    check(metric(body, "chat_guildd_request_errors_total") > 0, "errors counted")

    return dict(admin_token=admin_token, alice_token=alice_token, guild=guild,
                general=general, ids=ids)


def sigterm_in_flight(cli, guildd, state):
    n = 40
    replies = []
    for i in range(n):
        rs = cli.nc.new_reply()
        replies.append(rs)
        req = {"v": 1, "op": "msg.create", "token": state["alice_token"],
               "channel_id": state["general"]["id"], "content": "drain %d" % i}
        cli.nc.publish(GUILD_SUBJECT, packb(req), rs)
    # One answer proves guildd is working through the batch; then stop it mid-stream.
    answers = {}
    m = None
    while m is None or m[0] not in replies:
        m = cli.nc.next_msg(10)
        check_m = m is not None
        if not check_m:
            raise AssertionError("no answer to pipelined creates")
    answers[m[0]] = unpackb(m[2])
    guildd.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    while guildd.proc.poll() is None or len(answers) < n:
        m = cli.nc.next_msg(0.5)
        if m and m[0] in replies:
            answers[m[0]] = unpackb(m[2])
        elif m is None and guildd.proc.poll() is not None:
            break
        if time.monotonic() > deadline:
            raise AssertionError("guildd did not exit after SIGTERM")
    check(guildd.proc.wait(5) == 0, "guildd exit 0 after SIGTERM with requests in flight")
    check(all(a["status"] == 200 for a in answers.values()),
          "in-flight requests answered 200 while draining (%d of %d taken)" % (len(answers), n))
    return [a["messages"][0]["id"] for a in answers.values()]


def after_restart(cfg, cli, state):
    r = expect_ok(cli.call(state["alice_token"], "guild.list"), "guild.list after restart")
    check([g["id"] for g in r["guilds"]] == [state["guild"]["id"]],
          "the directory was reloaded from stored")
    r = expect_ok(cli.call(state["alice_token"], "channel.list", guild_id=state["guild"]["id"]),
                  "channel.list after restart")
    check(len(r["channels"]) == 2, "channels reloaded")
    r = expect_ok(cli.call(state["admin_token"], "auth"), "admin after restart")
    token_path = os.path.join(cfg.data_dir, "admin.token")
    check(open(token_path).read().strip() == state["admin_token"],
          "admin.token kept when it still works")
    # New ids stay above the old ones.
    r = expect_ok(cli.call(state["alice_token"], "msg.create", channel_id=state["general"]["id"],
                           content="after restart"), "msg.create after restart")
    check(r["messages"][0]["id"] > max(state["ids"]), "ids keep increasing")


def main():
    chattest.require_programs("stored", "guildd")
    with chattest.TestDir("guildd-") as tmp:
        cfg = chattest.write_config(tmp, {"guild": {"request_timeout_ms": 2000}})
        nats = subprocess.Popen([chattest.find_nats_server(), "-a", "127.0.0.1",
                                 "-p", str(cfg.ports["nats"])],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cli = None
        guildd = stored = None
        try:
            chattest.wait_for(lambda: socket.create_connection(
                ("127.0.0.1", cfg.ports["nats"]), 0.5).close() or True, 10, "nats-server")

            # guildd first: it must wait for stored, retrying, and not report ready.
            guildd = Daemon("guildd", tmp, cfg).start()
            check(not guildd.ready_now(1.0) and guildd.proc.poll() is None,
                  "guildd waits for stored without failing")
            stored = Daemon("stored", tmp, cfg).start().wait_ready()
            guildd.wait_ready()
            check(True, "guildd ready once stored answers")

            cli = Client(cfg.ports["nats"])
            state = scenario(cfg, cli, stored, guildd)

            # SIGTERM with requests in flight: whatever guildd took is answered, and what it
            # answered 200 is stored.
            acked = sigterm_in_flight(cli, guildd, state)
            guildd = Daemon("guildd", tmp, cfg).start().wait_ready()
            after_restart(cfg, cli, state)
            r = expect_ok(cli.call(state["alice_token"], "msg.list",
                                   channel_id=state["general"]["id"], limit=100), "msg.list")
            have = {m["id"] for m in r["messages"]}
            check(all(i in have for i in acked), "every create answered 200 before SIGTERM "
                  "is in history after restart (%d)" % len(acked))

            # Rotated admin token file is replaced: remove it, restart, get a new one.
            os.unlink(os.path.join(cfg.data_dir, "admin.token"))
            check(guildd.stop() == 0, "guildd SIGTERM exit 0 again")
            guildd = Daemon("guildd", tmp, cfg).start().wait_ready()
            fresh = open(os.path.join(cfg.data_dir, "admin.token")).read().strip()
            check(fresh != state["admin_token"], "a missing admin.token is reissued")
            expect_ok(cli.call(fresh, "auth"), "reissued admin token works")
            expect_error(cli.call(state["admin_token"], "auth"), 401, 40001,
                         what="the old admin token was revoked")

            # stored gone: writes are refused with 503, never acknowledged.
            check(stored.stop() == 0, "stored SIGTERM exit 0")
            r = cli.call(state["alice_token"], "msg.create", channel_id=state["general"]["id"],
                         content="nobody stores this")
            check(r["status"] == 503 and r["message"], "msg.create without stored -> 503 (%s)"
                  % r.get("message"))
            r = cli.call(fresh, "user.create", name="dave")
            check(r["status"] == 503, "user.create without stored -> 503")
            r = cli.call(fresh, "user.find", name="dave")
            check(r["status"] == 404, "the refused user was not created")

            code = guildd.stop()
            check(code == 0, "guildd SIGTERM exit 0 (got %d)" % code)
        except BaseException:
            for d in (guildd, stored):
                if d is not None:
                    sys.stderr.write("--- %s log ---\n%s\n" % (d.name, d.log_tail()))
            raise
        finally:
            if cli:
                cli.close()
            for d in Daemon.started:
                d.kill()
            nats.terminate()
            nats.wait(10)
    chattest.log("PASS")


if __name__ == "__main__":
    main()
