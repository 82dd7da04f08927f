"""A minimal NATS client over a plain socket (the text protocol), standard library only.

Enough for tests to talk to daemons on the bus: CONNECT, SUB, PUB with a reply subject,
MSG parsing, PING/PONG. One socket, no threads; requests can be pipelined by publishing
several with distinct reply subjects and then reading replies with next_msg().
"""

import json
import socket
import time


class NatsError(Exception):
    pass


class NatsClient:
    def __init__(self, host, port, timeout=5.0, name="test"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.next_sid = 1
        self.next_reply = 1
        self.inbox = "_INBOX.%s.%d" % (name, id(self))
        line = self._read_line(time.monotonic() + timeout)
        if not line.startswith(b"INFO "):
            raise NatsError("expected INFO, got %r" % line)
        self.info = json.loads(line[5:])
        opts = {"verbose": False, "pedantic": False, "name": name, "lang": "python",
                "version": "0", "protocol": 1}
        self._send(b"CONNECT " + json.dumps(opts).encode() + b"\r\nPING\r\n")
        deadline = time.monotonic() + timeout
        while True:
            line = self._read_line(deadline)
            if line == b"PONG":
                break
            if line.startswith(b"-ERR"):
                raise NatsError(line.decode())
        self.inbox_sid = self.subscribe(self.inbox + ".*")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("deadline")
        self.sock.settimeout(remaining)
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise NatsError("connection closed by the server")
        self.buf += chunk

    def _read_line(self, deadline):
        while b"\r\n" not in self.buf:
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _read_exact(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def subscribe(self, subject, queue=None):
        sid = self.next_sid
        self.next_sid += 1
        q = (" " + queue) if queue else ""
        self._send(("SUB %s%s %d\r\n" % (subject, q, sid)).encode())
        return sid

    def publish(self, subject, data, reply=None):
        r = (" " + reply) if reply else ""
        self._send(("PUB %s%s %d\r\n" % (subject, r, len(data))).encode() + data + b"\r\n")

    def new_reply(self):
        token = "%s.%d" % (self.inbox, self.next_reply)
        self.next_reply += 1
        return token

    def next_msg(self, timeout):
        """(subject, reply, data) of the next MSG, or None when none came within timeout."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                line = self._read_line(deadline)
                if line == b"PING":
                    self._send(b"PONG\r\n")
                    continue
                if line in (b"PONG", b"+OK") or not line:
                    continue
                if line.startswith(b"-ERR"):
                    raise NatsError(line.decode())
                if line.startswith(b"MSG "):
                    parts = line.decode().split(" ")
                    subject = parts[1]
                    reply = parts[3] if len(parts) == 5 else None
                    n = int(parts[-1])
                    data = self._read_exact(n + 2, deadline)[:n]
                    return subject, reply, data
        except socket.timeout:
            return None

    def request(self, subject, data, timeout=5.0):
        """Publishes with a fresh reply subject and returns the reply's data (ignoring
        replies to other, earlier requests); NatsError on timeout."""
        reply = self.new_reply()
        self.publish(subject, data, reply)
        deadline = time.monotonic() + timeout
        while True:
            msg = self.next_msg(max(0.0, deadline - time.monotonic()))
            if msg is None:
                raise NatsError("no reply on %s within %.1fs" % (subject, timeout))
            if msg[0] == reply:
                return msg[2]
