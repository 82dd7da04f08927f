"""REST rate limits: a low limit (gateway.rest_rate_limit = 5 per rest_rate_window_ms =
1000) and bots that send faster.

The 429 carries what both libraries need (Retry-After, Via, X-RateLimit-*, a JSON body
with retry_after and global, exactly application/json). Then one bot, logged in twice —
discord.py and discord.js in separate processes, as a bot split across two programs is —
sends 12 messages from each at once, right after a third program used up the bucket:
neither library can foresee the others' requests, so both get 429s, wait, retry, and
every message arrives without an exception.
"""

import asyncio
import logging
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import interop  # noqa: E402
from interop import ALL_USED, DjsAgent, DpyBot, check, log  # noqa: E402

interop.require()

LIMIT, WINDOW_MS, EACH = 5, 1000, 12


class Count429(logging.Handler):
    """Counts discord.py's 'We are being rate limited' warnings (one per 429 it handles)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.n = 0

    def emit(self, record):
        if "rate limited" in record.getMessage():
            self.n += 1


def raw_429(w):
    path = "/channels/%s/messages" % w.other
    statuses = []
    for i in range(LIMIT + 1):
        status, body, headers = w.rest("POST", path, w.alice.token, {"content": "raw %d" % i})
        statuses.append(status)
    check(statuses == [200] * LIMIT + [429], "the %dth request is refused: %r"
          % (LIMIT + 1, statuses))
    check(headers["Content-Type"] == "application/json", "429 is exactly application/json")
    check(headers.get("Via"), "429 has Via (discord.py treats one without it as a ban)")
    ra = headers.get("Retry-After")
    check(ra and 0 < float(ra) <= WINDOW_MS / 1000.0 + 1, "Retry-After %r" % ra)
    for h in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
              "X-RateLimit-Reset-After", "X-RateLimit-Bucket", "X-RateLimit-Scope"):
        check(h in headers, "429 has %s" % h)
    check(headers["X-RateLimit-Limit"] == str(LIMIT) and headers["X-RateLimit-Remaining"] == "0",
          "limit/remaining %s/%s" % (headers["X-RateLimit-Limit"], headers["X-RateLimit-Remaining"]))
    check(isinstance(body.get("retry_after"), float) and 0 < body["retry_after"] <= WINDOW_MS / 1e3,
          "body retry_after %r" % body)
    check(body.get("global") is False and "message" in body, "body global/message %r" % body)
    # Other buckets are not affected: another channel, another route, another token.
    check(w.rest("POST", "/channels/%s/messages" % w.general, w.alice.token,
                  {"content": "other channel"})[0] == 200, "another channel's bucket")
    check(w.rest("GET", path, w.alice.token)[0] == 200, "another route's bucket")
    log("ok: 429 with Retry-After %s, Via, X-RateLimit-*, retry_after %.3f"
        % (ra, body["retry_after"]))


async def main():
    gw = {"rest_rate_limit": LIMIT, "rest_rate_window_ms": WINDOW_MS,
          "threads": 1}  # buckets are per event loop: one loop makes the count exact
    with interop.World(gateway=gw) as w:
        interop.point_discord_py_at(w)
        raw_429(w)
        counter = Count429()
        logging.getLogger("discord.http").addHandler(counter)
        bot = w.user("fastbot")
        dpy = DpyBot(bot.token, ALL_USED, "dpy", guild_ready_timeout=0.1)
        djs = DjsAgent(w, bot.token, ALL_USED, "djs")
        try:
            await dpy.start()
            await djs.start()
            ch = dpy.client.get_channel(int(w.general))
            # The bucket is used up by the same bot elsewhere, so the first request of each
            # library is already refused, whichever of them comes first.
            for i in range(LIMIT):
                w.rest("POST", "/channels/%s/messages" % w.general, bot.token,
                       {"content": "elsewhere %d" % i})
            t0 = time.monotonic()
            js = djs.call("""
                const ch = client.channels.cache.get(args.c);
                const sent = await Promise.all([...Array(args.n).keys()].map((i) => ch.send('djs ' + i)));
                return sent.map((m) => m.id);
            """, timeout=60, c=w.general, n=EACH)
            py = asyncio.gather(*(ch.send("dpy %d" % i) for i in range(EACH)))
            js_ids, py_msgs = await asyncio.gather(js, py)
            took = time.monotonic() - t0
            py_ids = [str(m.id) for m in py_msgs]
            limited_js = len(djs.all("got429"))
            log("%d messages in %.1fs; 429s handled: discord.py %d, discord.js %d"
                % (2 * EACH, took, counter.n, limited_js))
            check(len(set(js_ids)) == EACH and len(set(py_ids)) == EACH, "all sends returned")
            check(counter.n > 0, "discord.py met 429s and retried")
            check(limited_js > 0, "discord.js met 429s and retried")
            # Every message is stored once; and the bucket held: no more than LIMIT per window
            # (plus one window of slack for the edges).
            hist = w.history(w.general, 100)
            stored = {m["id"]: m["content"] for m in hist}
            for i, mid in enumerate(py_ids):
                check(stored.get(mid) == "dpy %d" % i, "dpy %d stored" % i)
            for i, mid in enumerate(js_ids):
                check(stored.get(mid) == "djs %d" % i, "djs %d stored" % i)
            check(took >= (2 * EACH / LIMIT - 2) * WINDOW_MS / 1000.0,
                  "the limit held (%.1fs for %d)" % (took, 2 * EACH))
            await dpy.wait_event("message", lambda m: str(m.id) in js_ids, count=EACH)
            dpy.check_no_errors()
            djs.check_no_errors()
            log("ok: both libraries wait on 429 and retry; every message arrives")
        finally:
            await dpy.close()
            await djs.close()


interop.run(main)
