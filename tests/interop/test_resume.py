"""RESUME through a connection that drops, with both libraries.

Both bots reach the gateway through a TCP proxy written here (gateway.public_url names
the proxy, so resume_gateway_url and /gateway/bot lead there too). While alice posts a
stream of messages, the proxy cuts every connection twice, without a close frame: each
bot resumes (on_resumed / shardResume, no second READY) and sees every message exactly
once, in order. Then the network stays down longer than gateway.resume_window_s: the
RESUME gets op 9 false, each bot identifies again and carries on.
"""

import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chattest  # noqa: E402
import interop  # noqa: E402
from interop import ALL_USED, DjsAgent, DpyBot, check, log  # noqa: E402

interop.require()

WINDOW_S = 2


def stream_ids(events, channel):
    return [e for e in events if e[0] == channel]


async def main():
    proxy_port = chattest.free_port()
    gw = {"public_url": "ws://127.0.0.1:%d/gateway" % proxy_port, "resume_window_s": WINDOW_S}
    with interop.World(gateway=gw) as w:
        proxy = await interop.DroppingProxy(w.port).start(proxy_port)
        interop.point_discord_py_at(w.api, "ws://127.0.0.1:%d/" % proxy_port)
        bot = w.user("resumebot")
        dpy = DpyBot(bot.token, ALL_USED, "dpy", guild_ready_timeout=0.1,
                     enable_debug_events=True)
        djs = DjsAgent(w, bot.token, ALL_USED, "djs")
        try:
            await dpy.start()
            await djs.start()
            check(proxy.accepted >= 2, "both bots came through the proxy (%d)" % proxy.accepted)

            # -- a stream of 60 messages, the connections cut after 20 and after 40
            sent = []
            for i in range(60):
                if i == 40:  # both are back (resumed) before the second cut
                    await dpy.wait_event("resumed", timeout=10)
                    await djs.wait_event("shardResume", timeout=10)
                if i in (20, 40):
                    n = proxy.cut()
                    log("cut %d connections after %d messages" % (n, i))
                m = await asyncio.to_thread(w.send, w.general, "m%02d" % i, w.alice.token)
                sent.append(m["id"])
                await asyncio.sleep(0.01)

            def dpy_ids():
                return [str(m.id) for m in dpy.all("message") if str(m.channel.id) == w.general]

            def djs_ids():
                return [m["id"] for m in djs.all("messageCreate") if m["channelId"] == w.general]

            await interop.wait_until(lambda: set(sent) <= set(dpy_ids()), 20, "dpy: all 60")
            await interop.wait_until(lambda: set(sent) <= set(djs_ids()), 20, "djs: all 60")
            check(dpy_ids() == sent, "dpy: every message exactly once, in order")
            check(djs_ids() == sent, "djs: every message exactly once, in order")
            await dpy.wait_event("resumed", count=2, timeout=10)
            await djs.wait_event("shardResume", count=2, timeout=10)
            check(len(dpy.all("connect")) == 1, "dpy: no second READY (resumed, not identified)")
            check(djs.all("clientReady") and len(djs.all("shardReady")) <= 1,
                  "djs: no second READY")
            log("ok: RESUME after dropped connections: %d + %d resumes, every message once"
                % (len(dpy.all("resumed")), len(djs.all("shardResume"))))

            # -- down for longer than the resume window: op 9 false, IDENTIFY again
            ops_before = len(dpy.all("op", lambda op: op == 9))
            proxy.hold()
            proxy.cut()
            t_down = time.monotonic()
            lost = await asyncio.to_thread(w.send, w.general, "while down", w.alice.token)
            # The window ends, and both sessions with it (gatewayd's cron logs each).
            log_path = w.chatd.log_path
            with open(log_path, "rb") as f:
                seen = f.read().count(b'msg="resume window over"')

            def expired():
                with open(log_path, "rb") as f:
                    return f.read().count(b'msg="resume window over"') >= seen + 2
            await interop.wait_until(expired, WINDOW_S + 10, "both sessions to expire", 0.1)
            proxy.release()
            await dpy.wait_event("connect", count=2, timeout=20)  # a new READY
            await djs.wait_event("shardReady", count=2, timeout=20)
            log("re-identified %.1fs after the drop (discord.py waits 5 s before it)"
                % (time.monotonic() - t_down))
            check(len(dpy.all("op", lambda op: op == 9)) > ops_before, "dpy got op 9")
            debug = await djs.call("return state.debug.filter((d) => /invalid/i.test(d))")
            check(debug, "djs logged the invalid session")
            after = await asyncio.to_thread(w.send, w.general, "after", w.alice.token)
            await dpy.wait_event("message", lambda m: str(m.id) == after["id"])
            await djs.wait_event("messageCreate", lambda m: m["id"] == after["id"])
            check(lost["id"] not in dpy_ids(), "a message from the expired window is not replayed")
            dpy.check_no_errors()
            djs.check_no_errors()
            log("ok: resume after the window -> op 9 false, re-identify, carry on")
        finally:
            await dpy.close()
            await djs.close()
            await proxy.close()


interop.run(main)
