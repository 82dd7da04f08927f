"""discord.py 2.2.2, unchanged but for its two base-URL lines, against the daemon set.

Login to on_ready without waiting on a timeout of ours (GUILD_CREATEs at once, complete
member lists so no chunk wait; the 2 s guild_ready_timeout is discord.py's own quiet
period, shown by a second client with a shorter one), zlib-stream transport, on_message
for a `chatctl send`, channel.send and a reply with message_reference (seen in `chatctl
tail`), history paging (before, after, around, oldest_first), fetch_message, edit and
delete events, bulk delete, typing, DMs, members over REST and op 8, and the errors
(NotFound 10003, Forbidden 50001).
"""

import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import interop  # noqa: E402
from interop import ALL_USED, DpyBot, check, log  # noqa: E402

interop.require()
import discord  # noqa: E402

# Frames discord.py received as bytes (zlib-stream) and as text, counted by a wrapper.
FRAMES = {"binary": 0, "text": 0}
_received = discord.gateway.DiscordWebSocket.received_message


async def _counting(self, msg, /):
    FRAMES["binary" if isinstance(msg, bytes) else "text"] += 1
    return await _received(self, msg)


discord.gateway.DiscordWebSocket.received_message = _counting


async def login(w, bot):
    t_login = time.monotonic()
    b = DpyBot(bot.token, ALL_USED, "dpy")
    ready_s = await b.start()
    g_s = b.first("guild_available")[0] - b.t0
    gap = b.first("ready")[0] - b.first("guild_available")[0]
    log("discord.py: REST login %.3fs, guild available after %.3fs, on_ready after %.3fs "
        "(%.3fs quiet period)" % (b.login_s, g_s, ready_s, gap))
    check(g_s < 0.5, "GUILD_CREATE within 0.5 s of login (%.3fs)" % g_s)
    # on_ready = last GUILD_CREATE + guild_ready_timeout (2.0 s) and nothing else: no chunk
    # wait (5 s), no waiting for guilds that never come.
    check(ready_s < 2.0 + 0.6, "on_ready within guild_ready_timeout + 0.6 s (%.3fs)" % ready_s)
    check(FRAMES["binary"] > 0 and FRAMES["text"] == 0,
          "zlib-stream: every frame compressed (%r)" % FRAMES)
    c = b.client
    guild = c.get_guild(int(w.guild_id))
    check(guild is not None and guild.chunked, "guild cached and chunked from GUILD_CREATE")
    check(c.get_channel(int(w.general)) is not None, "#general cached")
    check(c.application_id == int(bot.id), "application id from /oauth2/applications/@me")

    # A client with a short guild_ready_timeout shows that the wait is discord.py's own.
    quick = DpyBot(bot.token, ALL_USED, "dpy-quick", guild_ready_timeout=0.1)
    quick_s = await quick.start()
    log("discord.py with guild_ready_timeout=0.1: login %.3fs, on_ready after %.3fs: %s" % (quick.login_s, quick_s, [
        "%s %.3f" % (e[1], e[0] - quick.t0) for e in quick.events]))
    check(quick_s < 0.8, "on_ready promptly with a short guild_ready_timeout (%.3fs)" % quick_s)
    await quick.close()
    return b


async def messages(w, b, bot):
    c = b.client
    out = w.chatctl("send", w.general, "!ping from chatctl")
    mid = out.strip().split()[-1]
    m = await b.wait_event("message", lambda m: str(m.id) == mid)
    check(m.content == "!ping from chatctl" and m.guild and str(m.guild.id) == w.guild_id,
          "on_message content/guild: %r" % m)
    sent = await m.channel.send("pong")
    reply = await m.reply("pong (reply)")
    check(reply.reference and reply.reference.message_id == m.id, "reply has a reference")
    check(reply.type == discord.MessageType.reply, "reply type 19: %r" % (reply.type,))
    # Our own messages come back as MESSAGE_CREATE too.
    await b.wait_event("message", lambda x: x.id == reply.id)
    tail = w.tail(w.general, 5)
    by_id = {t["id"]: t for t in tail}
    check(str(sent.id) in by_id and by_id[str(sent.id)]["content"] == "pong", "tail: send")
    t = by_id.get(str(reply.id))
    check(t and t["content"] == "pong (reply)", "tail: reply %r" % tail)
    check(t.get("message_reference", {}).get("message_id") == mid,
          "tail shows the reply's message_reference: %r" % t)
    check(by_id[str(sent.id)]["author"]["id"] == bot.id, "author is the bot")
    log("ok: on_message, channel.send, reply (chatctl tail shows both)")


async def history(w, b):
    c = b.client
    n = 250
    out = w.chatctl("send", w.other, stdin="".join("h%03d\n" % i for i in range(n)), timeout=60)
    sent = [line.split()[-1] for line in out.splitlines() if line.strip()]
    check(len(sent) == n, "chatctl sent %d ids" % len(sent))
    ch = c.get_channel(int(w.other))
    got = [str(m.id) async for m in ch.history(limit=250)]
    check(got == list(reversed(sent)), "history(limit=250): newest first, all of them")
    got = [m.content async for m in ch.history(limit=None)]
    check(got == ["h%03d" % i for i in reversed(range(n))], "history(limit=None) contents")
    got = [str(m.id) async for m in ch.history(limit=None, after=discord.Object(int(sent[99])))]
    check(got == sent[100:], "history(after=...) oldest first, %d" % len(got))
    got = [str(m.id) async for m in ch.history(limit=30, after=discord.Object(int(sent[99])),
                                               oldest_first=False)]
    # discord.py pages newest first then (before-strategy, filtered by after): the newest 30.
    check(got == list(reversed(sent[220:250])), "history(after, oldest_first=False)")
    got = [str(m.id) async for m in ch.history(limit=10, oldest_first=True)]
    check(got == sent[:10], "history(limit=10, oldest_first=True): the first ten")
    got = [str(m.id) async for m in ch.history(limit=50, before=discord.Object(int(sent[200])))]
    check(got == list(reversed(sent[150:200])), "history(before=...)")
    got = [str(m.id) async for m in ch.history(limit=11, around=discord.Object(int(sent[125])))]
    check(len(got) == 11 and sent[125] in got, "history(around=...) %r" % got)
    lo = min(sent.index(x) for x in got)
    check(sorted(got, key=sent.index) == sent[lo:lo + 11], "around: a contiguous window")
    one = await ch.fetch_message(int(sent[42]))
    check(one.content == "h042" and str(one.id) == sent[42], "fetch_message")
    try:
        await ch.fetch_message(int(sent[42]) + 1)
        check(False, "fetch_message of an unknown id raises")
    except discord.NotFound as e:
        check(e.code == 10008, "unknown message 10008: %r" % e.code)
    log("ok: history (250 with before-paging, after, around, oldest_first), fetch_message")


async def edit_delete(w, b):
    ch = b.client.get_channel(int(w.general))
    m = await ch.send("to be edited")
    await b.wait_event("message", lambda x: x.id == m.id)
    m2 = await m.edit(content="edited")
    check(m2.content == "edited" and m2.edited_at is not None, "edit returns the new message")
    before, after = await b.wait_event("message_edit", lambda p: p[1].id == m.id)
    check(before.content == "to be edited" and after.content == "edited", "on_message_edit")
    await m.delete()
    d = await b.wait_event("raw_message_delete", lambda p: p.message_id == m.id)
    check(d.channel_id == ch.id and d.cached_message is not None, "on_raw_message_delete")
    # Bulk delete needs moderator rights (Discord: MANAGE_MESSAGES; here: the guild's
    # owner), so the bot makes a guild of its own, as a bot that creates guilds would.
    mod = await b.client.create_guild(name="mod-dpy")
    await interop.wait_until(lambda: b.client.get_guild(mod.id), 5, "GUILD_CREATE of own guild")
    ch = await b.client.get_guild(mod.id).create_text_channel("mod")
    await interop.wait_until(lambda: b.client.get_channel(ch.id), 5, "CHANNEL_CREATE")
    batch = [await ch.send("bulk %d" % i) for i in range(5)]
    await ch.delete_messages(batch)
    bulk = await b.wait_event("raw_bulk_message_delete")
    check(bulk.message_ids == {x.id for x in batch}, "on_raw_bulk_message_delete %r" % bulk)
    # purge: history + bulk delete.
    for i in range(3):
        await ch.send("purge me %d" % i)
    gone = await ch.purge(limit=3)
    check(sorted(x.content for x in gone) == ["purge me %d" % i for i in range(3)], "purge")
    ids = {x.id async for x in ch.history(limit=20)}
    check(not ({x.id for x in batch} | {x.id for x in gone}) & ids, "deleted ones are gone")
    log("ok: edit, delete, bulk delete, purge events")


async def typing_and_dms(w, b):
    c = b.client
    # alice types in #general: TYPING_START, with the member.
    status, _, _ = w.rest("POST", "/channels/%s/typing" % w.general, w.alice.token)
    check(status == 204, "typing 204")
    ch, user, when = await b.wait_event("typing", lambda p: str(p[1].id) == w.alice.id)
    check(str(ch.id) == w.general and isinstance(user, discord.Member), "on_typing from a member")
    async with c.get_channel(int(w.general)).typing():  # our own POST /typing
        pass

    # DMs: the bot opens one to alice and writes; alice answers; the bot sees it.
    alice = await c.fetch_user(int(w.alice.id))
    dm = await alice.create_dm()
    check(isinstance(dm, discord.DMChannel) and dm.recipient.id == alice.id, "create_dm")
    hello = await alice.send("hello alice")
    check(hello.channel.id == dm.id, "user.send goes to the DM channel")
    status, ans, _ = w.rest("POST", "/channels/%s/messages" % dm.id, w.alice.token,
                            {"content": "hi bot"})
    check(status == 200, "alice answers in the DM: %s %r" % (status, ans))
    m = await b.wait_event("message", lambda x: str(x.id) == ans["id"])
    check(m.guild is None and isinstance(m.channel, discord.DMChannel) and m.content == "hi bot",
          "DM message event: %r" % m)
    got = [x.content async for x in dm.history(limit=10)]
    check(got == ["hi bot", "hello alice"], "DM history %r" % got)
    log("ok: typing, DM open and DM messages")


async def members(w, b, bot):
    c = b.client
    guild = c.get_guild(int(w.guild_id))
    m = await guild.fetch_member(int(w.alice.id))
    check(m.name == "alice" and m.joined_at is not None, "fetch_member (REST)")
    listed = [x async for x in guild.fetch_members(limit=None)]
    check({str(x.id) for x in listed} >= {w.alice.id, bot.id}, "fetch_members (REST paging)")
    t0 = time.monotonic()
    chunked = await guild.chunk()
    took = time.monotonic() - t0
    check({str(x.id) for x in chunked} >= {w.alice.id, bot.id}, "chunk() (op 8): %r" % chunked)
    check(took < 1.0, "op 8 answered promptly (%.3fs)" % took)
    found = await guild.query_members(query="ali")
    check([str(x.id) for x in found] == [w.alice.id], "query_members(query=) %r" % found)
    found = await guild.query_members(user_ids=[int(w.alice.id)])
    check([str(x.id) for x in found] == [w.alice.id], "query_members(user_ids=)")
    log("ok: members over REST and op 8 (chunk %.3fs)" % took)


async def errors(w, b):
    c = b.client
    try:
        await c.get_partial_messageable(int(w.general) + 12345).send("nowhere")
        check(False, "send to an unknown channel raises")
    except discord.NotFound as e:
        check(e.code == 10003 and e.status == 404, "NotFound 10003: %r %r" % (e.code, e.status))
    try:
        await c.get_partial_messageable(int(w.secret)).send("not mine")
        check(False, "send without access raises")
    except discord.Forbidden as e:
        check(e.code == 50001 and e.status == 403, "Forbidden 50001: %r" % e.code)
    try:
        await c.fetch_channel(int(w.secret))
        check(False, "fetch_channel without access raises")
    except discord.Forbidden as e:
        check(e.code == 50001, "fetch_channel Forbidden 50001")
    log("ok: NotFound 10003, Forbidden 50001")


async def main():
    with interop.World() as w:
        interop.point_discord_py_at(w)
        bot = w.user("pybot")
        b = await login(w, bot)
        try:
            await messages(w, b, bot)
            await history(w, b)
            await edit_delete(w, b)
            await typing_and_dms(w, b)
            await members(w, b, bot)
            await errors(w, b)
            b.check_no_errors()
        finally:
            await b.close()


interop.run(main)
