#!/usr/bin/python3
"""gatewayd drops a session that stops reading (gateway.max_queue_bytes), and only it.

The daemon set runs under chatd with gateway.max_queue_bytes = 65536. Two gateway
sessions of the admin identify in the same guild, over a raw WebSocket client of this
file (standard library only): a normal one, read by a thread, and a slow one whose
SO_RCVBUF is made small before connecting and which stops reading after READY. Messages
of 1,900 characters are then posted through REST (four keep-alive connections) until
gatewayd reports the slow-consumer close, and a few more after it.

Checks: chat_gatewayd_slow_consumer_closes_total{reason="queue_bytes"} and
chat_gatewayd_closes_total{reason="slow_consumer"} count exactly one close; the slow
client, reading again, reaches EOF or a reset after fewer messages than were posted;
the normal session received every posted message, in order, and is still open;
chat_gatewayd_queue_bytes is back near zero and gatewayd's RSS grew by less than 32 MiB;
/readyz stays 200.
"""

import base64
import http.client
import json
import os
import re
import socket
import struct
import threading
import time

import chattest

MAX_QUEUE = 65536
CONTENT = 1900
# ~6.5 MB of frames: past the queue bound plus what the kernel may buffer on loopback
# (the server's send buffer autotunes up to tcp_wmem's maximum, 4 MiB by default).
MAX_POSTS = 3000
POSTERS = 4
AFTER_CLOSE = 20  # posted after the close, for the normal session to receive too
GUILDS, GUILD_MESSAGES, MESSAGE_CONTENT = 1 << 0, 1 << 9, 1 << 15


def check(cond, what):
    if not cond:
        raise chattest.ChatTestError(what)
    chattest.log("ok: " + what)


class WsClient:
    """A minimal client WebSocket: text frames out (masked), frames in."""

    def __init__(self, port, rcvbuf=None, timeout=10.0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET /gateway?v=10&encoding=json HTTP/1.1\r\n"
                           "Host: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                           % (port, key)).encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise chattest.ChatTestError("no upgrade: %r" % head[:200])

    def _fill(self):
        b = self.sock.recv(65536)
        if not b:
            raise EOFError("server closed")
        self.buf += b

    def _frame(self):
        """(opcode, payload) of the first whole frame in the buffer, or None; a timeout
        while filling leaves the buffer as it was, so reading can go on later."""
        b = self.buf
        if len(b) < 2:
            return None
        n, pos = b[1] & 0x7F, 2
        if n == 126:
            if len(b) < 4:
                return None
            n, pos = struct.unpack("!H", b[2:4])[0], 4
        elif n == 127:
            if len(b) < 10:
                return None
            n, pos = struct.unpack("!Q", b[2:10])[0], 10
        if len(b) < pos + n:
            return None
        self.buf = b[pos + n:]
        return b[0] & 0x0F, b[pos:pos + n]

    def recv(self):
        """The next text payload as a dict; EOFError on a close frame or EOF."""
        while True:
            f = self._frame()
            if f is None:
                self._fill()
                continue
            op, data = f
            if op == 8:
                raise EOFError("close frame %r" % data[:2])
            if op == 1:
                return json.loads(data)

    def send(self, obj):
        data = json.dumps(obj).encode()
        mask = os.urandom(4)
        n = len(data)
        head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else
                                bytes([0x80 | 126]) + struct.pack("!H", n))
        self.sock.sendall(head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(data)))

    def login(self, token):
        hello = self.recv()
        if hello.get("op") != 10:
            raise chattest.ChatTestError("first frame is not HELLO: %r" % hello)
        self.send({"op": 2, "d": {"token": token,
                                  "intents": GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT,
                                  "properties": {"os": "linux", "browser": "t", "device": "t"}}})
        while True:
            m = self.recv()
            if m.get("t") == "READY":
                guilds = len(m["d"]["guilds"])
                break
        for _ in range(guilds):
            while self.recv().get("t") != "GUILD_CREATE":
                pass

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Reader(threading.Thread):
    """Reads the normal session: the ids of MESSAGE_CREATE in arrival order."""

    def __init__(self, ws):
        super().__init__(daemon=True)
        self.ws, self.ids, self.error = ws, [], None
        self.stop = False

    def run(self):
        try:
            while not self.stop:
                try:
                    m = self.ws.recv()
                except socket.timeout:
                    continue
                if m.get("t") == "MESSAGE_CREATE":
                    self.ids.append(int(m["d"]["id"]))
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            if not self.stop:
                self.error = e


class Flood:
    """REST posters sharing a budget of messages; ids in the order guildd answered."""

    def __init__(self, port, token, channel, budget):
        self.port, self.token, self.channel = port, token, channel
        self.lock = threading.Lock()
        self.left, self.ids, self.error = budget, [], None

    def limit(self, more):
        with self.lock:
            self.left = min(self.left, more)

    def count(self):
        with self.lock:
            return len(self.ids)

    def post(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Authorization": "Bot " + self.token, "Content-Type": "application/json"}
        body = json.dumps({"content": "x" * CONTENT}).encode()
        try:
            while True:
                with self.lock:
                    if self.left <= 0 or self.error:
                        return
                    self.left -= 1
                conn.request("POST", "/api/v10/channels/%s/messages" % self.channel,
                             body=body, headers=headers)
                resp = conn.getresponse()
                text = resp.read()
                if resp.status != 200:
                    raise chattest.ChatTestError("post: %s %r" % (resp.status, text[:200]))
                with self.lock:
                    self.ids.append(int(json.loads(text)["id"]))
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            with self.lock:
                self.error = e
        finally:
            conn.close()


def rss_slack_kib():
    """RSS growth a sanitizer build adds by itself. ASan keeps freed memory in its
    quarantine (quarantine_size_mb, 256 MiB unless ASAN_OPTIONS says otherwise), so what
    the slow session's buffers held stays resident after they are freed; TSan keeps shadow
    memory (4 bytes per byte of heap touched) resident for them."""
    sanitize = os.environ.get("CHAT_SANITIZE", "")
    if "address" in sanitize:
        m = re.search(r"quarantine_size_mb=(\d+)", os.environ.get("ASAN_OPTIONS", ""))
        return (int(m.group(1)) if m else 256) * 1024
    if "thread" in sanitize:
        return 4 * 32 * 1024
    return 0


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise chattest.ChatTestError("no VmRSS for %d" % pid)


def main():
    chattest.require_programs("chatd", *chattest.DAEMONS)
    with chattest.TestDir("chat-slow-") as tmp:
        cfg = chattest.write_config(tmp, {"store": {"sync": "none"},
                                          "gateway": {"max_queue_bytes": MAX_QUEUE}})
        gw = cfg.ports["gateway"]
        with chattest.Chatd(cfg) as chatd:
            chatd.wait_running(60)
            chatd.wait_ready_http(30)
            with open(os.path.join(cfg.data_dir, "admin.token")) as f:
                token = f.read().strip()
            conn = http.client.HTTPConnection("127.0.0.1", gw, timeout=10)
            auth = {"Authorization": "Bot " + token, "Content-Type": "application/json"}

            def call(method, path, body=None):
                conn.request(method, "/api/v10" + path,
                             body=json.dumps(body).encode() if body is not None else None,
                             headers=auth)
                resp = conn.getresponse()
                text = resp.read()
                return resp.status, (json.loads(text) if text else None)

            status, guild = call("POST", "/guilds", {"name": "slow"})
            check(status in (200, 201), "guild created")
            status, chan = call("POST", "/guilds/%s/channels" % guild["id"],
                                {"name": "flood", "type": 0})
            check(status in (200, 201), "channel created")

            normal = WsClient(gw)
            normal.login(token)
            slow = WsClient(gw, rcvbuf=4096)
            slow.login(token)
            check(True, "two sessions identified; the slow one stops reading now")
            normal.sock.settimeout(0.5)
            reader = Reader(normal)
            reader.start()

            gw_pid = chatd.child("gatewayd")["pid"]
            rss_before = rss_kib(gw_pid)
            closes_label = 'reason="slow_consumer"'
            queue_label = 'reason="queue_bytes"'
            base_slow = chattest.metric(gw, "chat_gatewayd_slow_consumer_closes_total", queue_label)
            base_close = chattest.metric(gw, "chat_gatewayd_closes_total", closes_label)

            # Posters on POSTERS keep-alive connections share a budget; once the close is
            # seen the budget is cut to AFTER_CLOSE more messages.
            flood = Flood(gw, token, chan["id"], MAX_POSTS)
            t0 = time.monotonic()
            posters = [threading.Thread(target=flood.post, daemon=True) for _ in range(POSTERS)]
            for t in posters:
                t.start()
            closed_at = None
            while time.monotonic() - t0 < 60 and any(t.is_alive() for t in posters):
                if chattest.metric(gw, "chat_gatewayd_slow_consumer_closes_total",
                          queue_label) > base_slow:
                    closed_at = flood.count()
                    flood.limit(AFTER_CLOSE)
                    break
                time.sleep(0.1)
            flood.limit(0 if closed_at is None else AFTER_CLOSE)
            for t in posters:
                t.join(15)
            check(flood.error is None, "every post answered 200 (%r)" % flood.error)
            posted = flood.ids
            check(closed_at is not None,
                  "slow session dropped after about %s posts (%.1fs)"
                  % (closed_at, time.monotonic() - t0))

            # The slow client reads again: what the kernel held, then EOF or a reset.
            slow.sock.settimeout(0.5)
            seen, ended = 0, None
            deadline = time.monotonic() + 15
            while ended is None and time.monotonic() < deadline:
                try:
                    m = slow.recv()
                    if m.get("t") == "MESSAGE_CREATE":
                        seen += 1
                except socket.timeout:
                    continue
                except EOFError:
                    ended = "eof"
                except ConnectionResetError:
                    ended = "reset"
            slow.close()
            check(ended is not None, "slow client sees the end of its connection (%s)" % ended)
            check(seen < len(posted),
                  "slow client got %d of %d messages before it" % (seen, len(posted)))

            check(chattest.metric(gw, "chat_gatewayd_slow_consumer_closes_total", queue_label)
                  == base_slow + 1, "slow_consumer_closes_total{queue_bytes} counted one close")
            check(chattest.metric(gw, "chat_gatewayd_closes_total", closes_label) == base_close + 1,
                  "closes_total{slow_consumer} counted one close")

            want = sorted(posted)
            chattest.wait_for(lambda: len(reader.ids) >= len(want) or reader.error, 15,
                              "the normal session to receive every message")
            reader.stop = True
            reader.join(5)
            check(reader.error is None, "normal session still open (%r)" % reader.error)
            check(reader.ids == want,
                  "normal session received all %d messages in order" % len(want))
            normal.close()

            status, text = chattest.http_get("127.0.0.1", gw, "/metrics")
            qm = re.search(r"^chat_gatewayd_queue_bytes ([0-9.e+]+)$", text, re.M)
            check(qm is not None and float(qm.group(1)) < MAX_QUEUE,
                  "queued bytes back under the bound (%s)" % (qm.group(1) if qm else None))
            growth = rss_kib(gw_pid) - rss_before
            check(growth < 32 * 1024 + rss_slack_kib(), "gatewayd RSS grew by %d KiB" % growth)
            check(chattest.http_get("127.0.0.1", gw, "/readyz")[0] == 200, "gatewayd /readyz")
            check(chatd.child("gatewayd")["pid"] == gw_pid, "gatewayd did not restart")
            conn.close()
            chatd.stop()


if __name__ == "__main__":
    main()
