"""The example bots in examples/bots/ run as their README says and answer commands.

Both start as separate programs with CHAT_URL and BOT_TOKEN only (the discord.js one
finds discord.js in tests/interop/node_modules through NODE_PATH), print their tail of
the channel, answer `!ping` with a reply and `!uptime` with a message, and stop on
SIGTERM.
"""

import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chattest  # noqa: E402
import interop  # noqa: E402
from interop import check, log  # noqa: E402

interop.require()


class Program:
    """A bot program whose stdout lines are collected by a thread."""

    def __init__(self, cmd, env):
        self.lines = []
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, pred, what, timeout=20):
        def found():
            if self.proc.poll() is not None:
                raise interop.InteropError("%s: exited %s:\n%s"
                                           % (what, self.proc.returncode, "\n".join(self.lines)))
            return next((ln for ln in self.lines if pred(ln)), None)
        return chattest.wait_for(found, timeout, what)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode


def main():
    interop.ensure_node_modules()
    examples = os.path.join(chattest.source_dir(), "examples", "bots")
    with interop.World() as w:
        progs = {}
        try:
            for name, cmd in (("pybot", ["/usr/bin/python3",
                                         os.path.join(examples, "discord_py_bot.py")]),
                              ("jsbot", ["node", os.path.join(examples, "discord_js_bot.js")])):
                u = w.user(name)
                env = dict(os.environ, CHAT_URL="http://127.0.0.1:%d" % w.port, BOT_TOKEN=u.token,
                           BOT_CHANNEL=w.general,
                           NODE_PATH=os.path.join(interop.HERE, "node_modules"))
                progs[name] = (Program(cmd, env), u)
            for name, (p, u) in progs.items():
                p.wait_line(lambda ln: ln.startswith("ready:"), name + " ready")
            ping = w.send(w.general, "!ping", w.alice.token)
            for name, (p, u) in progs.items():
                p.wait_line(lambda ln: ln.endswith("alice: !ping"), name + " tails the channel")

            def answers(content, from_id, reply_to=None):
                for m in w.history(w.general, 20):
                    if m["author"]["id"] == from_id and m["content"].startswith(content) and (
                            reply_to is None or
                            m.get("message_reference", {}).get("message_id") == reply_to):
                        return m
                return None

            for name, (p, u) in progs.items():
                chattest.wait_for(lambda: answers("pong", u.id, ping["id"]), 10,
                                  name + " replies pong")
            w.send(w.general, "!uptime", w.alice.token)
            for name, (p, u) in progs.items():
                m = chattest.wait_for(lambda: answers("up ", u.id), 10, name + " answers !uptime")
                check(m["content"].startswith("up 0d 00:0"), "%s uptime %r" % (name, m["content"]))
            log("ok: example bots answer !ping and !uptime")
        finally:
            for name, (p, u) in progs.items():
                code = p.stop()
                if code not in (0, -signal.SIGTERM):
                    log("%s exited %s:\n%s" % (name, code, "\n".join(p.lines[-20:])))


t0 = time.monotonic()
main()
log("PASS (%.1fs)" % (time.monotonic() - t0))
