"""RESUME with a backlog larger than gateway.max_queue_bytes: the replay goes out paced
(in windows of a quarter of the bound, each once the client has taken most of the one
before), so the session is not dropped as a slow consumer for its own replay, and every
missed dispatch arrives exactly once, in order, before RESUMED.

gatewayd runs two loops with max_queue_bytes = 64 KiB; each round misses 60 messages of
~1.9 KB (~140 KB of dispatches, over twice the bound). Over several rounds the new
connection lands on the session's own loop and on the other one (the proxy path, paced
through the proxy's loop). A message posted while the replay is still going comes after
the replayed ones, with the next sequence number. No slow-consumer close is counted.
"""

import threading

import chattest
from test_gateway_api import (GUILDS, GUILD_MESSAGES, MESSAGE_CONTENT, DaemonSet, Gateway,
                              check, make_world, rest)
from test_gateway_resume import resume

BOUND = 65536
MISSED = 60
ROUNDS = 6


def post(port, token, cid, content):
    status, msg, _ = rest(port, "POST", "/channels/%s/messages" % cid, token,
                          {"content": content})
    check(status == 200, "post: %s %r" % (status, msg))
    return msg["id"]


def main():
    chattest.require_programs("stored", "guildd", "gatewayd")
    with chattest.TestDir("chat-gwrb-") as tmp, \
            DaemonSet(tmp, gateway={"max_queue_bytes": BOUND}) as ds:
        port, admin = ds.port, ds.admin_token
        gw = ds.cfg.ports["gateway"]
        _, cid, _ = make_world(port, admin)
        slow_label = 'reason="queue_bytes"'
        slow0 = chattest.metric(gw, "chat_gatewayd_slow_consumer_closes_total", slow_label)
        resumes0 = chattest.metric(gw, "chat_gatewayd_resumes_total")

        g = Gateway(port)
        ready, _ = g.login(admin, GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT)
        session_id = ready["d"]["session_id"]
        filler = "x" * 1900
        for rnd in range(ROUNDS):
            g.send({"op": 1, "d": g.seq})
            check(g.recv()["op"] == 11, "ACK")
            seq = g.seq
            g.drop()
            missed = [post(port, admin, cid, "r%d m%d %s" % (rnd, i, filler))
                      for i in range(MISSED)]
            g = resume(port, admin, session_id, seq)
            # One more message while the replay may still be going (posted from another
            # thread once the RESUME is sent): it must come after the missed ones.
            late = []
            t = threading.Thread(target=lambda: late.append(post(port, admin, cid, "late %d" % rnd)))
            t.start()
            got, resumed, s = [], False, seq
            while not resumed or len(got) < len(missed) + 1:
                if len(got) == len(missed):
                    t.join()
                d = g.dispatch()
                check(d["s"] == s + 1, "round %d: s=%s after %s" % (rnd, d["s"], s))
                s = d["s"]
                if d["t"] == "RESUMED":
                    check(not resumed, "one RESUMED")
                    check(len(got) >= len(missed), "RESUMED after the %d missed, not after %d"
                          % (len(missed), len(got)))
                    resumed = True
                    continue
                check(d["t"] == "MESSAGE_CREATE", "replayed %s" % d["t"])
                got.append(d["d"]["id"])
            t.join()
            check(got == missed + late, "round %d: %d dispatches in order, each once"
                  % (rnd, len(got)))
        g.close()
        check(chattest.metric(gw, "chat_gatewayd_slow_consumer_closes_total", slow_label)
              == slow0, "no slow-consumer close during the replays")
        check(chattest.metric(gw, "chat_gatewayd_resumes_total") == resumes0 + ROUNDS,
              "%d resumes counted" % ROUNDS)
        chattest.log("ok: %d resumes of %d x %d B each, paced under a %d B bound"
                     % (ROUNDS, MISSED, len(filler), BOUND))
    chattest.log("PASS")


if __name__ == "__main__":
    main()
