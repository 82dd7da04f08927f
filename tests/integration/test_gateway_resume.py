"""RESUME: after a dropped TCP connection, the missed dispatches are replayed in order,
exactly once, then RESUMED, then live events continue with the next sequence numbers.
gatewayd runs two loops, so over several rounds the new connection lands both on the
session's own loop and on the other one (the cross-loop proxy path). Also: an unknown
session or a wrong token gets op 9 with d false; a client close 1000 ends the session.
"""

import chattest
from test_gateway_api import (GUILDS, GUILD_MESSAGES, MESSAGE_CONTENT, DaemonSet, Gateway,
                              check, make_world, rest)


def resume(port, token, session_id, seq):
    g = Gateway(port)
    check(g.recv()["op"] == 10, "HELLO")
    g.send({"op": 6, "d": {"token": token, "session_id": session_id, "seq": seq}})
    return g


def main():
    chattest.require_programs("stored", "guildd", "gatewayd")
    with chattest.TestDir("chat-gwr-") as tmp, DaemonSet(tmp) as ds:
        port, admin = ds.port, ds.admin_token
        gid, cid, bob = make_world(port, admin)

        g = Gateway(port)
        ready, _ = g.login(admin, GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT)
        session_id = ready["d"]["session_id"]
        check(ready["d"]["resume_gateway_url"].startswith("ws://"), "resume_gateway_url")
        sent = 0
        for rnd in range(6):
            # Heartbeat (acknowledging what we have), then drop the connection.
            g.send({"op": 1, "d": g.seq})
            check(g.recv()["op"] == 11, "ACK")
            seq = g.seq
            g.drop()
            missed = []
            for i in range(3):
                sent += 1
                status, msg, _ = rest(port, "POST", "/channels/%s/messages" % cid, admin,
                                      {"content": "missed %d" % sent})
                check(status == 200, "post while away: %s %r" % (status, msg))
                missed.append(msg["id"])
            g = resume(port, admin, session_id, seq)
            # The missed messages come replayed before RESUMED; one whose event was still on
            # the bus when the RESUME arrived (REST answered on another loop's bus connection)
            # comes live right after it. Either way: each exactly once, in order, and every
            # dispatch with the next sequence number.
            got, resumed, s = [], False, seq
            while not resumed or len(got) < len(missed):
                d = g.dispatch()
                check(d["s"] == s + 1, "sequence: s=%s after %s" % (d["s"], s))
                s = d["s"]
                if d["t"] == "RESUMED":
                    check(not resumed, "one RESUMED")
                    resumed = True
                    continue
                check(d["t"] == "MESSAGE_CREATE", "replayed %s" % d["t"])
                got.append(d["d"]["id"])
            check(got == missed, "round %d: replayed %r, want %r" % (rnd, got, missed))
            # Live again: the next message arrives exactly once, with the next seq.
            status, msg, _ = rest(port, "POST", "/channels/%s/messages" % cid, admin,
                                  {"content": "live %d" % rnd})
            check(status == 200, "live post")
            d = g.dispatch("MESSAGE_CREATE")
            check(d["d"]["id"] == msg["id"] and d["s"] == seq + len(missed) + 2,
                  "live after resume: %r" % d)
            g.send({"op": 1, "d": g.seq})
            check(g.recv()["op"] == 11, "ACK after resume (no duplicate dispatch before it)")
        chattest.log("ok: %d resumes, replay exactly once" % 6)

        # Wrong token, unknown session: op 9 d=false.
        g.drop()
        for token, sid in ((bob["token"], session_id), (admin, "0123456789abcdef"),
                           (admin, "nonsense")):
            r = resume(port, token, sid, 0)
            m = r.recv()
            check(m["op"] == 9 and m["d"] is False, "invalid session: %r" % m)
            r.close()
        # The right one still works after those failures.
        r = resume(port, admin, session_id, g.seq)
        check(r.dispatch()["t"] == "RESUMED", "resume after refusals")
        # A client close 1000 ends the session: resuming it is refused.
        r.ws.close(status=1000)
        r2 = Gateway(port)
        r2.recv()

        def refused():
            r3 = resume(port, admin, session_id, 0)
            try:
                m = r3.recv()
                return m["op"] == 9 and m["d"] is False
            finally:
                r3.close()
        chattest.wait_for(refused, 5, "session ended by close 1000")
        r2.close()
        chattest.log("ok: invalid sessions")
    chattest.log("PASS")


if __name__ == "__main__":
    main()
