"""Multi-node on one machine (ARCHITECTURE.md "Scale-out", examples/cluster/README.md).

A three-server NATS cluster on loopback; node 1 is one chatd running stored, guildd,
presenced and gatewayd for shards 0-1 of 4; node 2 is the same for shards 2-3, split in
two chatd processes (chatd.programs) so that its gateway can die alone: one runs stored,
guildd and presenced, the other only gatewayd. Every daemon's nats.url lists all three
servers.

 1. Directory writes taken by either guildd reach the other (chat.dir.changed): guilds,
    members and channels are created so that both guildd instances take some, and each
    is then used through the other instance.
 2. A client on node 1 and a client on node 2 both see every message sent through either
    node, to a channel of each shard half, in order.
 3. kill -9 node 2's gateway (its chatd and its gatewayd): node 2's client reconnects to
    node 1 and carries on; messages keep being acknowledged.
 4. Stop the nats-server holding the most connections: sends and deliveries go on through
    the other two.
Every message acknowledged to a sender (REST 200) is in history at the end, and both
stored instances hold some of them.
"""

import json
import os
import signal
import subprocess
import threading
import time

import chattest
from test_gateway_api import GUILD_MESSAGES, GUILDS, MESSAGE_CONTENT, Closed, Gateway, check, rest

import websocket

SHARDS = 4
LOW, HIGH = "0-1", "2-3"
PER_PHASE = 8  # messages sent in each phase


def shard_of(i, shards=SHARDS):
    """lib/chat/proto/subjects.hpp shard_of: splitmix64's finalizer, modulo shards."""
    m = (1 << 64) - 1
    x = int(i)
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & m
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & m
    x ^= x >> 31
    return x % shards


def half(i):
    return "low" if shard_of(i) <= 1 else "high"


# ---------------------------------------------------------------------------------------
# The NATS cluster


class NatsCluster:
    """Three nats-servers routed to each other, as examples/cluster/nats-*.conf."""

    def __init__(self, tmp):
        ports = chattest.free_ports(9)
        self.client, self.route, self.monitor = ports[0:3], ports[3:6], ports[6:9]
        self.tmp = tmp
        self.procs = [None, None, None]
        self.logs = []

    @property
    def url(self):
        return ",".join("nats://127.0.0.1:%d" % p for p in self.client)

    def start(self):
        for i in range(3):
            routes = "\n".join("    nats-route://127.0.0.1:%d" % self.route[j]
                               for j in range(3) if j != i)
            conf = os.path.join(self.tmp, "nats-%d.conf" % i)
            with open(conf, "w") as f:
                f.write("server_name: n%d\nlisten: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\n"
                        "cluster {\n  name: chat\n  listen: 127.0.0.1:%d\n  routes: [\n%s\n  ]\n}\n"
                        % (i, self.client[i], self.monitor[i], self.route[i], routes))
            log = open(os.path.join(self.tmp, "nats-%d.log" % i), "ab")
            self.logs.append(log)
            self.procs[i] = subprocess.Popen(
                [chattest.find_nats_server(), "-c", conf], stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_routed([0, 1, 2])

    def monitor_json(self, i, path):
        status, body = chattest.http_get("127.0.0.1", self.monitor[i], path)
        return json.loads(body) if status == 200 else None

    def wait_routed(self, up):
        def routed():
            for i in up:
                if self.procs[i].poll() is not None:
                    raise chattest.ChatTestError("nats-server %d exited" % i)
                rz = self.monitor_json(i, "/routez")
                if not rz or rz["num_routes"] < len(up) - 1:
                    return False
            return True
        chattest.wait_for(routed, 20, "the NATS cluster's routes")

    def connections(self, i):
        return self.monitor_json(i, "/connz")["num_connections"]

    def names(self, i):
        """The client names (bus connection names) of server i's connections."""
        return [c.get("name", "") for c in self.monitor_json(i, "/connz")["connections"]]

    def stop(self, i):
        self.procs[i].send_signal(signal.SIGTERM)
        self.procs[i].wait(timeout=15)

    def cleanup(self):
        for p in self.procs:
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        for log in self.logs:
            log.close()


# ---------------------------------------------------------------------------------------
# Nodes


def node_config(tmp, name, nats_url, programs, shard_range=None, worker=None):
    d = os.path.join(tmp, name)
    os.makedirs(d)
    extra = {
        "shards": SHARDS,
        "nats": {"url": nats_url, "spawn": False},
        "chatd": {"programs": programs},
        "gateway": {"threads": 1, "heartbeat_interval_ms": 10000},
        "log": {"level": "info"},
    }
    if shard_range is not None:
        extra["guild"] = {"shard_range": shard_range, "worker": worker, "process": 0}
        extra["store"] = {"shard_range": shard_range}
        extra["presence"] = {"shard_range": shard_range}
    return chattest.write_config(d, extra)


# ---------------------------------------------------------------------------------------
# A client that fails over between gateway nodes


class Client(threading.Thread):
    """A gateway session that knows several gateway ports. It stays on the first that
    works; when its connection dies it logs in on the next one and fetches from history
    what it missed (as chatctl tail -f does), so `seen` holds each channel's messages once,
    in the order this client got them."""

    def __init__(self, name, token, ports, channels):
        super().__init__(daemon=True, name=name)
        self.token, self.ports, self.channels = token, list(ports), list(channels)
        self.lock = threading.Lock()
        self.seen = {c: [] for c in self.channels}
        self.port = None
        self.logins = 0
        self.error = None
        self.stopping = threading.Event()
        self.ready = threading.Event()

    def add(self, channel, msg_id):
        with self.lock:
            if channel in self.seen and msg_id not in self.seen[channel]:
                self.seen[channel].append(msg_id)

    def snapshot(self):
        with self.lock:
            return {c: list(v) for c, v in self.seen.items()}

    def login(self):
        """Logs in on the first port that works, starting after the current one."""
        start = 0 if self.port is None else (self.ports.index(self.port) + 1) % len(self.ports)
        deadline = time.monotonic() + 20
        last = None
        while time.monotonic() < deadline and not self.stopping.is_set():
            for k in range(len(self.ports)):
                port = self.ports[(start + k) % len(self.ports)]
                try:
                    g = Gateway(port, timeout=5)
                    g.login(self.token, GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT)
                    g.ws.settimeout(0.5)
                    self.port = port
                    self.logins += 1
                    chattest.log("%s: logged in on gateway %d" % (self.name, port))
                    return g
                except (OSError, Closed, websocket.WebSocketException,
                        chattest.ChatTestError) as e:
                    last = e
            time.sleep(0.1)
        raise chattest.ChatTestError("%s: no gateway would take me: %s" % (self.name, last))

    def backfill(self):
        for c in self.channels:
            with self.lock:
                after = self.seen[c][-1] if self.seen[c] else "1"
            status, msgs, _ = rest(self.port, "GET", "/channels/%s/messages?after=%s&limit=100"
                                   % (c, after), self.token)
            check(status == 200, "%s: history after reconnect: %s" % (self.name, status))
            for m in sorted(msgs, key=lambda m: int(m["id"])):
                self.add(c, m["id"])

    def run(self):
        try:
            g = self.login()
            self.ready.set()
            beat = time.monotonic()
            while not self.stopping.is_set():
                if time.monotonic() - beat > 3:
                    beat = time.monotonic()
                    try:
                        g.send({"op": 1, "d": g.seq})
                    except (OSError, websocket.WebSocketException):
                        pass  # the read below sees the dead connection
                try:
                    msg = g.recv()
                except websocket.WebSocketTimeoutException:
                    continue
                except (OSError, Closed, websocket.WebSocketException) as e:
                    if self.stopping.is_set():
                        break
                    chattest.log("%s: connection to %d lost (%r); failing over"
                                 % (self.name, self.port, e))
                    g.close()
                    g = self.login()
                    self.backfill()
                    continue
                if msg.get("op") == 0 and msg.get("t") == "MESSAGE_CREATE":
                    self.add(msg["d"]["channel_id"], msg["d"]["id"])
            g.close()
        except Exception as e:  # reported by the main thread
            self.error = e
            self.ready.set()

    def stop(self):
        self.stopping.set()
        self.join(timeout=10)


# ---------------------------------------------------------------------------------------
# Sending


class Sender:
    """Sends through a list of gateway ports (the first that answers), keeping, per
    channel, the ids of messages acknowledged with 200 in the order they were sent."""

    def __init__(self):
        self.acked = {}
        self.count = 0

    def send(self, ports, token, channel, deadline_s=15):
        self.count += 1
        content = "m%d via %s" % (self.count, ports[0])
        deadline = time.monotonic() + deadline_s
        last = None
        while time.monotonic() < deadline:
            for port in ports:
                try:
                    status, body, _ = rest(port, "POST", "/channels/%s/messages" % channel, token,
                                           {"content": content})
                except OSError as e:  # that gateway is gone: the next one
                    last = e
                    continue
                if status == 200:
                    self.acked.setdefault(channel, []).append(body["id"])
                    return body["id"]
                last = "%s %r" % (status, body)
                check(status in (502, 503, 504), "send to %s: %s" % (channel, last))
                break  # the bus is settling: wait a little and ask again
            time.sleep(0.1)
        raise chattest.ChatTestError("no gateway accepted a message within %ds: %s"
                                     % (deadline_s, last))


def wait_seen(clients, acked, what):
    """Every client has seen every acknowledged message; per channel, in id order."""
    def done():
        for cl in clients:
            if cl.error:
                raise chattest.ChatTestError("%s failed: %r" % (cl.name, cl.error))
            seen = cl.snapshot()
            for c, ids in acked.items():
                if not set(ids) <= set(seen[c]):
                    return False
        return True
    try:
        chattest.wait_for(done, 20, what)
    except chattest.ChatTestError:
        for cl in clients:
            seen = cl.snapshot()
            for c, ids in acked.items():
                chattest.log("%s channel %s: missing %s" % (cl.name, c,
                             [i for i in ids if i not in seen[c]]))
        raise
    for cl in clients:
        seen = cl.snapshot()
        for c, ids in acked.items():
            got = [int(i) for i in seen[c]]
            check(got == sorted(got), "%s: channel %s out of order: %s" % (cl.name, c, got))
            mine = [i for i in seen[c] if i in set(ids)]
            check(mine == ids, "%s: channel %s: acked %s, seen %s" % (cl.name, c, ids, mine))


# ---------------------------------------------------------------------------------------


def make_world(p1, p2, admin):
    """Guilds and channels such that both guildd instances take directory writes and
    both shard halves have a channel used for messages. Returns (bob, channels)."""
    guilds = {}
    for n in range(24):
        status, g, _ = rest(p1, "POST", "/guilds", admin, {"name": "cluster-%d" % n})
        check(status in (200, 201), "create guild: %s %r" % (status, g))
        guilds.setdefault(half(g["id"]), g["id"])
        if len(guilds) == 2:
            break
    check(len(guilds) == 2, "guilds in both shard halves: %r" % guilds)
    status, bob, _ = rest(p1, "POST", "/admin/users", admin, {"name": "bob", "bot": True})
    check(status == 200 and bob.get("token"), "create bob: %s %r" % (status, bob))
    # member.add goes to the guild's shard: one write per guildd instance, each through
    # the node that does not run it.
    for h, port in (("low", p2), ("high", p1)):
        status, m, _ = rest(port, "PUT", "/guilds/%s/members/%s" % (guilds[h], bob["id"]), admin)
        check(status in (200, 201, 204), "add bob to the %s guild: %s %r" % (h, status, m))
    # Channels of the high guild are created by node 2's guildd; the low channel's
    # messages are sequenced by node 1's, which learnt of it through chat.dir.changed.
    channels = {}
    for n in range(24):
        status, ch, _ = rest(p2, "POST", "/guilds/%s/channels" % guilds["high"], admin,
                             {"name": "c%d" % n, "type": 0})
        check(status in (200, 201), "create channel: %s %r" % (status, ch))
        channels.setdefault(half(ch["id"]), ch["id"])
        if len(channels) == 2:
            break
    check(len(channels) == 2, "channels in both shard halves: %r" % channels)
    return bob, [channels["low"], channels["high"]]


def main():
    chattest.require_programs("chatd", "stored", "guildd", "presenced", "gatewayd")
    with chattest.TestDir("chat-cluster-") as tmp:
        nats = NatsCluster(tmp)
        try:
            nats.start()
            run(tmp, nats)
        finally:
            nats.cleanup()


def run(tmp, nats):
    all4 = ["stored", "guildd", "presenced", "gatewayd"]
    cfg1 = node_config(tmp, "node1", nats.url, all4, LOW, 1)
    cfg2 = node_config(tmp, "node2", nats.url, ["stored", "guildd", "presenced"], HIGH, 2)
    cfg2gw = node_config(tmp, "node2gw", nats.url, ["gatewayd"])
    p1, p2 = cfg1.ports["gateway"], cfg2gw.ports["gateway"]
    with chattest.Chatd(cfg1) as node1, chattest.Chatd(cfg2) as node2, \
            chattest.Chatd(cfg2gw) as node2gw:
        node1.wait_running()
        node2.wait_running()
        node2gw.wait_running()
        check([c["name"] for c in node2.status()] == ["stored", "guildd", "presenced"],
              "node 2 runs what chatd.programs names")
        check([c["name"] for c in node2gw.status()] == ["gatewayd"], "gateway-only node")
        token_path = os.path.join(cfg1.data_dir, "admin.token")
        chattest.wait_for(lambda: os.path.exists(token_path), 10, "admin.token on node 1")
        check(not os.path.exists(os.path.join(cfg2.data_dir, "admin.token")),
              "only the guildd serving shard 0 bootstraps the admin")
        with open(token_path) as f:
            admin = f.read().strip()

        # 1. The directory, written through both guildd instances.
        bob, chans = make_world(p1, p2, admin)
        chattest.log("channels %s (shards %s)" % (chans, [shard_of(c) for c in chans]))
        for port, name in ((cfg1.ports["guild"], "node 1"), (cfg2.ports["guild"], "node 2")):
            check(chattest.metric(port, "chat_guildd_dir_changes_applied_total") > 0,
                  "%s's guildd applied directory changes of the other" % name)

        # 2. A client on each node; messages through both nodes to both channels.
        alice_cl = Client("alice@node1", admin, [p1, p2], chans)
        bob_cl = Client("bob@node2", bob["token"], [p2, p1], chans)
        clients = [alice_cl, bob_cl]
        for cl in clients:
            cl.start()
        try:
            for cl in clients:
                check(cl.ready.wait(30) and not cl.error, "%s logged in: %r" % (cl.name, cl.error))
            check(alice_cl.port == p1 and bob_cl.port == p2, "one client on each node")
            sender = Sender()
            for n in range(PER_PHASE):
                if n % 2 == 0:
                    sender.send([p1], admin, chans[n % 4 // 2])
                else:
                    sender.send([p2], bob["token"], chans[n % 4 // 2])
            wait_seen(clients, sender.acked, "both nodes' clients to see every message")

            # 3. kill -9 node 2's gateway: its chatd first, so nothing restarts it.
            gw_pid = node2gw.child("gatewayd")["pid"]
            os.kill(node2gw.pid, signal.SIGKILL)
            os.kill(gw_pid, signal.SIGKILL)
            node2gw.proc.wait()
            chattest.wait_for(lambda: not chattest.process_alive(gw_pid), 10, "gatewayd gone")
            for n in range(PER_PHASE):
                if n % 2 == 0:
                    sender.send([p1], admin, chans[n % 2])
                else:
                    sender.send([p2, p1], bob["token"], chans[n % 2])
            chattest.wait_for(lambda: bob_cl.port == p1 and bob_cl.logins >= 2, 20,
                              "bob's client to fail over to node 1")
            wait_seen(clients, sender.acked, "messages after the gateway node died")

            # 4. Stop a nats-server: the one node 1's gateway uses (its connection is
            # named gatewayd-<loop>), else the busiest; the other two carry the traffic.
            names = [nats.names(i) for i in range(3)]
            counts = [len(n) for n in names]
            score = [sum(10 if n.startswith(("gatewayd", "guildd")) else 1 for n in ns)
                     for ns in names]
            victim = score.index(max(score))
            check(counts[victim] > 0, "some daemon is connected to the server stopped")
            chattest.log("stopping nats-server %d (connections %s)" % (victim, names))
            nats.stop(victim)
            t0 = time.monotonic()
            for n in range(PER_PHASE):
                sender.send([p1], bob["token"] if n % 2 else admin, chans[n % 2])
            chattest.log("%d messages acknowledged %.2fs after the server stopped"
                         % (PER_PHASE, time.monotonic() - t0))
            wait_seen(clients, sender.acked, "messages after a NATS server stopped")
            left = [i for i in range(3) if i != victim]
            moved = sum(counts)  # every connection, the stopped server's included
            chattest.wait_for(lambda: sum(nats.connections(i) for i in left) >= moved, 10,
                              "every daemon connected to the other two servers")
        finally:
            for cl in clients:
                cl.stop()
        for cl in clients:
            check(cl.error is None, "%s: %r" % (cl.name, cl.error))

        # Every acknowledged message is in history; each stored holds some.
        for c, ids in sender.acked.items():
            status, msgs, _ = rest(p1, "GET", "/channels/%s/messages?limit=100" % c, admin)
            check(status == 200, "history of %s: %s" % (c, status))
            have = {m["id"] for m in msgs}
            missing = [i for i in ids if i not in have]
            check(not missing, "acknowledged but not in history of %s: %s" % (c, missing))
        check(sum(len(v) for v in sender.acked.values()) == 3 * PER_PHASE, "every send acked")
        for port, name in ((cfg1.ports["store"], "node 1"), (cfg2.ports["store"], "node 2")):
            check(chattest.metric(port, "chat_stored_writes_total") > 0, "%s's stored took writes" % name)

        node1.stop()
        node2.stop()
    chattest.log("ok")


if __name__ == "__main__":
    main()
