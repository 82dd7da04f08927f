"""Intents, as both libraries see them.

A bot without GUILD_MESSAGES gets no MESSAGE_CREATE from a guild; a bot without
MESSAGE_CONTENT gets guild messages with empty content, except its own, the ones that
mention it, and DMs. Each bot is connected twice, once with discord.py and once with
discord.js. Absence is shown by order: every session gets a guild's events in order, so
once a later CHANNEL_CREATE (intent GUILDS) has arrived, the messages before it would
have arrived too.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import interop  # noqa: E402
from interop import (DIRECT_MESSAGES, GUILDS, GUILD_MESSAGES, MESSAGE_CONTENT, DjsAgent,  # noqa: E402
                     DpyBot, check, log)

interop.require()


async def main():
    with interop.World() as w:
        interop.point_discord_py_at(w)
        quiet = w.user("quietbot")  # GUILDS | DIRECT_MESSAGES: no guild messages
        blind = w.user("blindbot")  # GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES: no content
        witness = w.user("witness")  # everything
        q_int = GUILDS | DIRECT_MESSAGES
        b_int = GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES
        w_int = b_int | MESSAGE_CONTENT
        clients = {
            "dpy-quiet": DpyBot(quiet.token, q_int, "dpy-quiet", guild_ready_timeout=0.1),
            "dpy-blind": DpyBot(blind.token, b_int, "dpy-blind", guild_ready_timeout=0.1),
            "dpy-witness": DpyBot(witness.token, w_int, "dpy-witness", guild_ready_timeout=0.1),
            "djs-quiet": DjsAgent(w, quiet.token, q_int, "djs-quiet"),
            "djs-blind": DjsAgent(w, blind.token, b_int, "djs-blind"),
        }
        try:
            for c in clients.values():
                await c.start()
            dpy_q, dpy_b, dpy_w = clients["dpy-quiet"], clients["dpy-blind"], clients["dpy-witness"]
            djs_q, djs_b = clients["djs-quiet"], clients["djs-blind"]

            plain = w.send(w.general, "plain text", w.alice.token)
            mention = w.send(w.general, "hey <@%s>, look" % blind.id, w.alice.token)
            own_dpy = await dpy_b.client.get_channel(int(w.general)).send("mine (dpy)")
            own_djs = await djs_b.call(
                "return (await client.channels.cache.get(args.c).send('mine (djs)')).id",
                c=w.general)
            # A DM from alice to blindbot (alice opens it over REST).
            status, dm, _ = w.rest("POST", "/users/@me/channels", w.alice.token,
                                   {"recipient_id": blind.id})
            check(status == 200, "alice opens a DM: %s %r" % (status, dm))
            direct = w.send(dm["id"], "a direct message", w.alice.token)
            sentinel = w.channel(w.guild_id, "sentinel")  # CHANNEL_CREATE after all of it

            for name in ("dpy-quiet", "dpy-blind", "dpy-witness"):
                await clients[name].wait_event("channel_create", lambda c: str(c.id) == sentinel)
            for name in ("djs-quiet", "djs-blind"):
                await clients[name].wait_event("channelCreate", lambda c: c["id"] == sentinel)
            # The DM is on the user's subject, not the guild's: wait for it by itself.
            await dpy_b.wait_event("message", lambda m: str(m.id) == direct["id"])
            await djs_b.wait_event("messageCreate", lambda m: m["id"] == direct["id"])

            # The witness saw everything with content.
            seen = {str(m.id): m.content for m in dpy_w.all("message")}
            check(seen.get(plain["id"]) == "plain text", "witness sees content")

            # No GUILD_MESSAGES: no guild MESSAGE_CREATE at all.
            check(not [m for m in dpy_q.all("message") if m.guild], "dpy-quiet: no guild messages")
            check(not [m for m in djs_q.all("messageCreate") if m["guildId"]],
                  "djs-quiet: no guild messages")

            # No MESSAGE_CONTENT: empty, except own, mentions and DMs.
            want = {plain["id"]: "", mention["id"]: mention["content"],
                    str(own_dpy.id): "mine (dpy)", own_djs: "mine (djs)",
                    direct["id"]: "a direct message"}
            got_dpy = {str(m.id): m.content for m in dpy_b.all("message")}
            got_djs = {m["id"]: m["content"] for m in djs_b.all("messageCreate")}
            for mid, content in want.items():
                check(got_dpy.get(mid) == content,
                      "dpy-blind %s: %r, want %r" % (mid, got_dpy.get(mid), content))
                check(got_djs.get(mid) == content,
                      "djs-blind %s: %r, want %r" % (mid, got_djs.get(mid), content))
            for c in clients.values():
                c.check_no_errors()
            log("ok: no GUILD_MESSAGES -> no MESSAGE_CREATE; no MESSAGE_CONTENT -> empty "
                "content except own, mentions, DMs (discord.py and discord.js)")
        finally:
            for c in clients.values():
                if getattr(c, "task", None) is not None or getattr(c, "proc", None) is not None:
                    await c.close()


interop.run(main)
