"""RECONNECT: gatewayd drains on SIGTERM and chatd starts it again; both bots carry on.

gatewayd sends op 7 to every session before closing; discord.py and discord.js both
reconnect, find a gatewayd that no longer knows their session (op 9 false), identify
again and receive the next message. Nothing raises, neither client stops.
"""

import asyncio
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import interop  # noqa: E402
from interop import ALL_USED, DjsAgent, DpyBot, check, log  # noqa: E402

interop.require()


async def main():
    with interop.World() as w:
        interop.point_discord_py_at(w)
        bot = w.user("reconnectbot")
        dpy = DpyBot(bot.token, ALL_USED, "dpy", guild_ready_timeout=0.1,
                     enable_debug_events=True)
        djs = DjsAgent(w, bot.token, ALL_USED, "djs")
        try:
            await dpy.start()
            await djs.start()
            first = w.send(w.general, "before the restart", w.alice.token)
            await dpy.wait_event("message", lambda m: str(m.id) == first["id"])
            await djs.wait_event("messageCreate", lambda m: m["id"] == first["id"])

            old = w.gatewayd_pid()
            t0 = time.monotonic()
            os.kill(old, signal.SIGTERM)
            await dpy.wait_event("op", lambda op: op == 7, timeout=10)
            await interop.wait_until(
                lambda: any(e[1] == "shardReconnecting" or e[1] == "shardDisconnect"
                            for e in djs.events), 10, "djs noticed the drain")
            await asyncio.to_thread(
                interop.chattest.wait_for,
                lambda: w.chatd.child("gatewayd")["pid"] not in (0, old)
                and w.chatd.child("gatewayd")["state"] == "running", 30, "gatewayd restarted")
            await asyncio.to_thread(w.wait_gateway)
            log("gatewayd restarted %.1fs after SIGTERM" % (time.monotonic() - t0))

            # Both identify again on the new gatewayd (discord.py after its 5 s pause).
            await dpy.wait_event("connect", count=2, timeout=30)
            await dpy.wait_event("ready", count=2, timeout=30)
            await djs.wait_event("shardReady", count=2, timeout=30)
            log("both bots back %.1fs after SIGTERM" % (time.monotonic() - t0))
            debug = await djs.call("return state.debug.filter((d) => /reconnect/i.test(d))")
            check(debug, "djs logged the reconnect request")

            after = w.send(w.general, "after the restart", w.alice.token)
            await dpy.wait_event("message", lambda m: str(m.id) == after["id"])
            await djs.wait_event("messageCreate", lambda m: m["id"] == after["id"])
            # And they can still talk.
            r = await dpy.client.get_channel(int(w.general)).send("dpy still here")
            jid = await djs.call(
                "return (await client.channels.cache.get(args.c).send('djs still here')).id",
                c=w.general)
            ids = {t["id"] for t in w.tail(w.general, 5)}
            check(str(r.id) in ids and jid in ids, "both bots' messages stored")
            check(not dpy.task.done(), "discord.py client still running")
            dpy.check_no_errors()
            djs.check_no_errors()
            log("ok: op 7 on SIGTERM, both bots reconnect to the restarted gatewayd")
        finally:
            await dpy.close()
            await djs.close()


interop.run(main)
