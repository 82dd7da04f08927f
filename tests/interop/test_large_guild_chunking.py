"""A guild above large_threshold with the members intent, against unchanged libraries.

Guild "bigchunk": the admin, the bot and 1,200 users written in bulk (tests/lib/
bulk_members.py): 1,202 members, above discord.py's large_threshold (250) and
discord.js's (50), so GUILD_CREATE says large with only the bot's own member.

discord.py 2.2.2 (members intent, so chunk_guilds_at_startup): it sends op 8 (query "",
limit 0) and holds on_ready until the chunks end (chunk_index + 1 == chunk_count, nonce
echoed) or 5 s pass. on_ready must come with the chunking done: well before
guild_ready_timeout (2.0 s) + that 5 s, with guild.large, guild.chunked and
len(guild.members) == guild.member_count == 1202. The small interop guild stays chunked
from its GUILD_CREATE.

discord.js 14: GUILD_CREATE's large and memberCount, then guild.members.fetch() (op 8
with a nonce, two chunks) returns all 1,202 members.
"""

import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import interop  # noqa: E402
from interop import ALL_USED, DjsAgent, DpyBot, check, log  # noqa: E402

interop.require()
from bulk_members import restart_guildd, write_members  # noqa: E402

BULK = 1200
BASE = 1 << 50


async def discord_py(w, bot, big):
    interop.point_discord_py_at(w)
    b = DpyBot(bot.token, ALL_USED, "dpy")
    try:
        ready_s = await b.start(ready_timeout=20)
        c = b.client
        guild = c.get_guild(int(big))
        check(guild is not None, "the big guild is cached")
        log("discord.py: on_ready after %.3fs; large=%r chunked=%r members=%d member_count=%r"
            % (ready_s, guild.large, guild.chunked, len(guild.members), guild.member_count))
        # guild_ready_timeout (2.0 s) is discord.py's own quiet period; a chunk request that
        # never ended would add its 5 s wait.
        check(ready_s < 2.0 + 1.5, "on_ready with the chunking done (%.3fs, not the 5 s "
              "timeout)" % ready_s)
        check(guild.large, "guild.large")
        check(guild.member_count == BULK + 2, "member_count %r" % guild.member_count)
        check(guild.chunked and len(guild.members) == guild.member_count,
              "guild.chunked: %d members cached of %r" % (len(guild.members), guild.member_count))
        check(guild.get_member(BASE + BULK - 1) is not None and guild.get_member(int(bot.id)),
              "the last bulk member and the bot are cached")
        small = c.get_guild(int(w.guild_id))
        check(small is not None and small.chunked and not small.large,
              "the small guild chunked from GUILD_CREATE")
        b.check_no_errors()
    finally:
        await b.close()


async def discord_js(w, bot, big):
    a = DjsAgent(w, bot.token, ALL_USED, "djs")
    try:
        ready_s = await a.start()
        info = await a.call("""
            const g = client.guilds.cache.get(args.guild);
            const before = g.members.cache.size;
            const t0 = Date.now();
            const all = await g.members.fetch();
            return {large: g.large, memberCount: g.memberCount, before, fetched: all.size,
                    cached: g.members.cache.size, ms: Date.now() - t0};
        """, guild=big)
        log("discord.js: clientReady after %.3fs; %r" % (ready_s, info))
        check(info["large"] and info["memberCount"] == BULK + 2, "large, memberCount %r" % info)
        check(info["before"] == 1, "only the bot's member from GUILD_CREATE %r" % info)
        check(info["fetched"] == BULK + 2 and info["cached"] == BULK + 2,
              "guild.members.fetch() returns every member %r" % info)
        a.check_no_errors()
    finally:
        await a.close()


async def main():
    with interop.World() as w:
        bot = w.user("bigbot")
        g = w._ok(w.rest("POST", "/guilds", body={"name": "bigchunk"}), "create guild")
        big = g["id"]
        w._ok(w.rest("PUT", "/guilds/%s/members/%s" % (big, bot.id)), "add the bot")
        write_members(w.cfg.ports["nats"], [big], BULK, BASE, "chunk")
        restart_guildd(w.chatd, w.cfg)
        await interop.wait_until(lambda: w.rest("GET", "/users/@me", bot.token)[0] == 200,
                                 20, "REST through the restarted guildd", 0.2)
        await discord_py(w, bot, big)
        await discord_js(w, bot, big)


interop.run(main)
