"""Presence between real bots: discord.py 2.2.2 and discord.js 14 in one guild, both with
GUILD_PRESENCES (and GUILD_MEMBERS, which discord.py needs to cache the members that
PRESENCE_UPDATE refers to), against the daemon set with presenced.

1. Each bot's first GUILD_CREATE carries the presence of the bot already online, and both
   libraries cache it (discord.js guild.presences, discord.py member.status).
2. discord.py change_presence(status=dnd, activity=Game("x")) -> discord.js presenceUpdate
   with status dnd, the activity, client_status web.
3. discord.js client.user.setPresence({status: 'idle', activities: [{name: 'y'}]}) ->
   discord.py on_presence_update with status idle and the activity.
4. A bot that closes shows offline to the other, both ways.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import interop  # noqa: E402
from interop import ALL_USED, DjsAgent, DpyBot, check, log  # noqa: E402

interop.require()
import discord  # noqa: E402

GUILD_PRESENCES = 1 << 8
INTENTS = ALL_USED | GUILD_PRESENCES
COALESCE_MS = 100


def dpy_bot(token, name):
    """A DpyBot that also records on_presence_update as (before, after) snapshots."""
    b = DpyBot(token, INTENTS, name)

    @b.client.event
    async def on_presence_update(before, after):
        b._rec("presence_update", {
            "user": str(after.id), "guild": str(after.guild.id),
            "before": str(before.status), "status": str(after.status),
            "activities": [(a.name, int(a.type.value)) for a in after.activities],
            "web": str(after.web_status)})
    return b


def js_presence_of(user_id, status):
    return lambda p: p["userId"] == user_id and p["status"] == status


async def main():
    extra = {"presence": {"coalesce_ms": COALESCE_MS}}
    with interop.World(extra=extra) as w:
        interop.point_discord_py_at(w)
        pybot = w.user("py-presence")
        jsbot = w.user("js-presence")
        b = dpy_bot(pybot.token, "dpy")
        await b.start()
        a = DjsAgent(w, jsbot.token, INTENTS, "djs")
        await a.start()
        b2 = None
        try:
            # -- 1. presences from GUILD_CREATE, cached by both libraries
            cached = await a.call("return commands.presences(args)", guild=w.guild_id)
            mine = [p for p in cached or [] if p["userId"] == pybot.id]
            check(mine and mine[0]["status"] == "online",
                  "discord.js caches discord.py's presence from GUILD_CREATE: %r" % cached)
            # discord.py learns of discord.js through PRESENCE_UPDATE (it came later).
            up = await b.wait_event("presence_update", lambda p: p["user"] == jsbot.id
                                    and p["status"] == "online")
            check(up["guild"] == w.guild_id and up["web"] == "online", "dpy sees djs %r" % up)
            log("ok: presences in GUILD_CREATE (discord.js) and PRESENCE_UPDATE (discord.py)")

            # -- 2. discord.py change_presence -> discord.js presenceUpdate
            await b.client.change_presence(status=discord.Status.dnd, activity=discord.Game("x"))
            p = await a.wait_event("presenceUpdate", js_presence_of(pybot.id, "dnd"))
            check(p["guildId"] == w.guild_id, "guild %r" % p)
            check([(x["name"], x["type"]) for x in p["activities"]] == [("x", 0)],
                  "activity Playing x: %r" % p)
            check(p["clientStatus"] == {"web": "dnd"}, "client_status %r" % p)
            check(p["oldStatus"] == "online", "the old presence was online: %r" % p)
            log("ok: discord.py change_presence(dnd, Game x) -> discord.js presenceUpdate")

            # -- 3. discord.js setPresence -> discord.py on_presence_update
            own = await a.call("return commands.setPresence(args)", status="idle",
                               activities=[{"name": "y"}])
            check(own["status"] == "idle", "setPresence %r" % own)
            up = await b.wait_event("presence_update", lambda p: p["user"] == jsbot.id
                                    and p["status"] == "idle")
            check(up["activities"] == [("y", 0)], "activity y: %r" % up)
            check(up["before"] == "online" and up["web"] == "idle", "before/after %r" % up)
            member = b.client.get_guild(int(w.guild_id)).get_member(int(jsbot.id))
            check(member is not None and member.status == discord.Status.idle
                  and member.activity is not None and member.activity.name == "y",
                  "discord.py's member cache: %r" % ((member and member.status),))
            log("ok: discord.js setPresence(idle, y) -> discord.py on_presence_update")

            # -- 4a. discord.py closes: discord.js sees it offline
            await b.close()
            p = await a.wait_event("presenceUpdate", js_presence_of(pybot.id, "offline"),
                                   timeout=10)
            check(p["activities"] == [] and p["clientStatus"] == {}, "offline presence %r" % p)
            log("ok: discord.py closed -> discord.js presenceUpdate offline")

            # -- 4b. a new discord.py session gets discord.js's presence in GUILD_CREATE ...
            b2 = dpy_bot(pybot.token, "dpy2")
            await b2.start()
            member = b2.client.get_guild(int(w.guild_id)).get_member(int(jsbot.id))
            check(member is not None and member.status == discord.Status.idle
                  and member.activity is not None and member.activity.name == "y",
                  "GUILD_CREATE presences cached by discord.py: %r"
                  % ((member and member.status),))
            # ... and sees it offline when discord.js closes.
            await a.close()
            up = await b2.wait_event("presence_update", lambda p: p["user"] == jsbot.id
                                     and p["status"] == "offline")
            check(up["before"] == "idle" and up["activities"] == [], "offline %r" % up)
            log("ok: GUILD_CREATE presences (discord.py); discord.js closed -> "
                "discord.py on_presence_update offline")
            b.check_no_errors()
            b2.check_no_errors()
            a.check_no_errors()
        finally:
            await a.close()
            await b.close()
            if b2 is not None:
                await b2.close()


interop.run(main)
