#!/usr/bin/python3
"""chatctl against the real daemon set: one `send` of 1,000 stdin lines reaches two
`chatctl tail -f --json` followers and a raw WebSocket client, each exactly once and in
order (compared with the ids `send` printed); then `history` pages back through all of
them newest first with --before, and --after and --around return the right windows.
"""

import json
import os
import subprocess
import threading
import time

import chattest

N = 1000
CHANNEL = "ops/#alerts"


class RawGateway:
    """A plain WebSocket gateway client (python3-websocket): IDENTIFY, heartbeats, and
    every MESSAGE_CREATE of one channel collected."""

    def __init__(self, url, token, channel_id):
        import websocket

        self.channel_id = channel_id
        self.messages = []
        self.guilds = set()
        self.lock = threading.Lock()
        self.closed = False
        self.ws = websocket.create_connection(url, timeout=30)
        hello = json.loads(self.ws.recv())
        assert hello["op"] == 10, hello
        self.interval = hello["d"]["heartbeat_interval"] / 1000.0
        self.seq = None
        self.ws.send(json.dumps({"op": 2, "d": {
            "token": token, "intents": 1 | 512 | 32768,
            "properties": {"os": "linux", "browser": "test", "device": "test"}}}))
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.beater = threading.Thread(target=self._beat, daemon=True)
        self.beater.start()

    def _read(self):
        import websocket

        self.ws.settimeout(None)
        try:
            while True:
                frame = json.loads(self.ws.recv())
                if frame.get("s") is not None:
                    self.seq = frame["s"]
                if frame["op"] != 0:
                    continue
                with self.lock:
                    if frame["t"] == "GUILD_CREATE":
                        self.guilds.add(frame["d"]["id"])
                    elif frame["t"] == "MESSAGE_CREATE" and frame["d"]["channel_id"] == self.channel_id:
                        self.messages.append(frame["d"])
        except (websocket.WebSocketException, OSError, ValueError):
            self.closed = True

    def _beat(self):
        while not self.closed:
            time.sleep(min(self.interval, 5.0))
            try:
                self.ws.send(json.dumps({"op": 1, "d": self.seq}))
            except Exception:
                return

    def snapshot(self):
        with self.lock:
            return list(self.messages)

    def stop(self):
        self.closed = True
        self.ws.close()


def main():
    chattest.require_programs("chatd", "stored", "guildd", "gatewayd", "chatctl")
    with chattest.TestDir() as tmp:
        cfg = chattest.write_config(tmp)
        with chattest.Chatd(cfg) as chatd:
            chatd.wait_running()
            ctl = chattest.Chatctl(cfg)

            guild = ctl.json_lines("--json", "guild", "create", "ops")[0]
            channel = ctl.json_lines("--json", "channel", "create", "ops", "alerts")[0]
            assert channel["name"] == "alerts" and channel["guild_id"] == guild["id"], channel
            token = open(os.path.join(cfg.data_dir, "admin.token")).read().strip()

            tails = [chattest.TailReader("tail %d" % i, ctl.spawn("tail", "-f", "-n", "0", "--json", CHANNEL))
                     for i in range(2)]
            raw = RawGateway("ws://127.0.0.1:%d/gateway?v=10&encoding=json" % cfg.ports["gateway"],
                             token, channel["id"])
            receivers = tails + [raw]

            # Connected means: each receiver has printed a marker sent after it started
            # (a follower with -n 0 skips what was there before it caught up, so keep
            # sending markers until every receiver has one).
            def has_marker(r):
                return any(m["content"].startswith("marker ") for m in r.snapshot())

            def all_connected():
                for r in receivers:
                    if isinstance(r, chattest.TailReader) and r.proc.poll() is not None:
                        raise chattest.ChatTestError("%s exited: %s" % (r.name, r.proc.stderr.read()))
                if all(has_marker(r) for r in receivers):
                    return True
                ctl.run("send", CHANNEL, "marker %f" % time.time())
                return False

            chattest.wait_for(all_connected, 60, "every follower to see a marker", interval=0.5)
            chattest.log("all three receivers connected")

            lines = "".join("line %04d of the fan-out test\n" % i for i in range(N))
            started = time.monotonic()
            sent = ctl.run("send", CHANNEL, stdin=lines).stdout.split()
            chattest.log("sent %d messages in %.1fs" % (len(sent), time.monotonic() - started))
            assert len(sent) == N, len(sent)
            assert len(set(sent)) == N

            def received(r):
                return [m["id"] for m in r.snapshot() if not m["content"].startswith("marker ")]

            chattest.wait_for(lambda: all(len(received(r)) >= N for r in receivers), 120,
                              "every receiver to get %d messages" % N, interval=0.2)
            for r in tails:
                r.stop()
            raw.stop()
            for name, r in (("tail 0", tails[0]), ("tail 1", tails[1]), ("websocket", raw)):
                got = received(r)
                assert got == sent, "%s: %d received, %d sent; first difference at %s" % (
                    name, len(got), len(sent),
                    next((i for i, (a, b) in enumerate(zip(got, sent)) if a != b), min(len(got), len(sent))))
                contents = [m["content"] for m in r.snapshot() if not m["content"].startswith("marker ")]
                assert contents == lines.splitlines(), name
            chattest.log("each receiver got all %d messages once, in order" % N)

            # history: page back through everything, newest first, with --before.
            pages, before, seen = 0, None, []
            while True:
                args = ["--json", "history", CHANNEL, "--limit", "100"]
                if before:
                    args += ["--before", before]
                page = ctl.json_lines(*args)
                if not page:
                    break
                ids = [int(m["id"]) for m in page]
                assert ids == sorted(ids, reverse=True), "page not newest first"
                seen += [m["id"] for m in page]
                before = page[-1]["id"]
                pages += 1
            assert pages >= N // 100, pages
            ours = [i for i in seen if i in set(sent)]
            assert ours == list(reversed(sent)), "history does not hold the sent messages once each"
            assert len(seen) == len(set(seen)), "history repeated a message"

            after = ctl.json_lines("--json", "history", CHANNEL, "--after", sent[499], "--limit", "10")
            assert [m["id"] for m in after] == list(reversed(sent[500:510])), after
            around = [m["id"] for m in ctl.json_lines("--json", "history", CHANNEL, "--around",
                                                       sent[500], "--limit", "11")]
            assert sent[500] in around and len(around) == 11, around
            assert set(around) <= set(sent[490:511]), around
            assert [int(i) for i in around] == sorted((int(i) for i in around), reverse=True)
            chattest.log("history: %d pages back with --before; --after and --around agree" % pages)

            chatd.stop()
    chattest.log("PASS")


if __name__ == "__main__":
    main()
