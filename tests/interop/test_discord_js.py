"""discord.js 14 (npm, pinned in package-lock.json), unchanged but for rest.api, against the
daemon set.

Login to clientReady well inside its 15 s guild wait, messageCreate for a `chatctl send`,
channel.send and message.reply (seen in `chatctl tail`), messages.fetch with limit,
before, after, around and by id, edit/delete/bulk-delete events, typing, DMs, members
over REST and op 8, and DiscordAPIError 10003 / 50001.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import interop  # noqa: E402
from interop import ALL_USED, DjsAgent, DjsError, check, log  # noqa: E402

interop.require()


async def login(w, bot):
    a = DjsAgent(w, bot.token, ALL_USED, "djs")
    ready_s = await a.start()
    log("discord.js: clientReady after %.3fs" % ready_s)
    check(ready_s < 1.5, "clientReady well inside the 15 s guild wait (%.3fs)" % ready_s)
    info = await a.call("""
        const g = client.guilds.cache.get(args.guild);
        return {user: client.user.id, app: client.application.id, guild: !!g,
                channels: g ? g.channels.cache.map((c) => c.id) : [],
                members: g ? g.members.cache.size : 0, memberCount: g ? g.memberCount : 0};
    """, guild=w.guild_id)
    check(info["user"] == bot.id and info["app"] == bot.id, "client.user / application %r" % info)
    check(info["guild"] and w.general in info["channels"], "guild and channels cached %r" % info)
    check(info["members"] == info["memberCount"], "members cached from GUILD_CREATE %r" % info)
    return a


async def messages(w, a, bot):
    mid = w.chatctl("send", w.general, "!ping from chatctl").strip().split()[-1]
    m = await a.wait_event("messageCreate", lambda m: m["id"] == mid)
    check(m["content"] == "!ping from chatctl" and m["guildId"] == w.guild_id, "messageCreate %r" % m)
    r = await a.call("""
        const ch = client.channels.cache.get(args.channel);
        const m = await ch.messages.fetch(args.id);
        const sent = await ch.send('pong');
        const reply = await m.reply('pong (reply)');
        return {sent: msg(sent), reply: msg(reply)};
    """, channel=w.general, id=mid)
    check(r["reply"]["reference"] == mid and r["reply"]["type"] == 19, "reply %r" % r["reply"])
    await a.wait_event("messageCreate", lambda m: m["id"] == r["reply"]["id"])
    by_id = {t["id"]: t for t in w.tail(w.general, 5)}
    check(by_id.get(r["sent"]["id"], {}).get("content") == "pong", "tail: send")
    t = by_id.get(r["reply"]["id"], {})
    check(t.get("content") == "pong (reply)" and
          t.get("message_reference", {}).get("message_id") == mid, "tail: reply %r" % t)
    check(t["author"]["id"] == bot.id, "author is the bot")
    log("ok: messageCreate, channel.send, message.reply (chatctl tail shows both)")


async def history(w, a):
    n = 250
    out = w.chatctl("send", w.other, stdin="".join("h%03d\n" % i for i in range(n)), timeout=60)
    sent = [line.split()[-1] for line in out.splitlines() if line.strip()]
    check(len(sent) == n, "chatctl sent %d" % len(sent))
    r = await a.call("""
        const ch = await client.channels.fetch(args.channel);
        const ids = (c) => [...c.values()].map((m) => m.id);
        const out = {};
        // Paging back with before, 100 at a time, as bots do.
        let all = [], before;
        for (;;) {
          const page = await ch.messages.fetch({limit: 100, ...(before ? {before} : {})});
          if (page.size === 0) break;
          all = all.concat(ids(page));
          before = page.lastKey();
        }
        out.all = all;
        out.latest = ids(await ch.messages.fetch({limit: 5}));
        out.after = ids(await ch.messages.fetch({limit: 50, after: args.sent[99]}));
        out.before = ids(await ch.messages.fetch({limit: 50, before: args.sent[200]}));
        out.around = ids(await ch.messages.fetch({limit: 11, around: args.sent[125]}));
        const one = await ch.messages.fetch({message: args.sent[42], force: true});
        out.one = msg(one);
        out.contents = [...(await ch.messages.fetch({limit: 3})).values()].map((m) => m.content);
        return out;
    """, channel=w.other, sent=sent)
    check(r["all"] == list(reversed(sent)), "paging with before: all 250, newest first")
    check(r["latest"] == list(reversed(sent[-5:])), "fetch({limit})")
    check(sorted(r["after"], key=int) == sent[100:150], "fetch({after}) %r" % r["after"][:3])
    check(r["before"] == list(reversed(sent[150:200])), "fetch({before})")
    check(len(r["around"]) == 11 and sent[125] in r["around"], "fetch({around})")
    lo = min(sent.index(x) for x in r["around"])
    check(sorted(r["around"], key=int) == sent[lo:lo + 11], "around: a contiguous window")
    check(r["one"]["id"] == sent[42] and r["one"]["content"] == "h042", "fetch(id)")
    check(r["contents"] == ["h249", "h248", "h247"], "contents")
    try:
        await a.call("await (await client.channels.fetch(args.c)).messages.fetch(args.id)",
                     c=w.other, id=str(int(sent[42]) + 1))
        check(False, "fetch of an unknown message throws")
    except DjsError as e:
        check(e.info["name"] == "DiscordAPIError" and e.code == 10008, "10008: %r" % e.info)
    log("ok: messages.fetch limit/before/after/around/id")


async def edit_delete(w, a):
    r = await a.call("""
        const ch = client.channels.cache.get(args.channel);
        const m = await ch.send('to be edited');
        const e = await m.edit('edited');
        return {id: m.id, content: e.content, edited: e.editedTimestamp};
    """, channel=w.general)
    check(r["content"] == "edited" and r["edited"], "edit %r" % r)
    up = await a.wait_event("messageUpdate", lambda m: m["id"] == r["id"])
    check(up["content"] == "edited", "messageUpdate")
    await a.call("await (await client.channels.cache.get(args.c).messages.fetch(args.id)).delete()",
                 c=w.general, id=r["id"])
    d = await a.wait_event("messageDelete", lambda m: m["id"] == r["id"])
    check(d["channelId"] == w.general, "messageDelete")
    # Bulk delete needs moderator rights (the guild's owner here): the bot's own guild.
    ids = await a.call("""
        const g = await client.guilds.create({name: 'mod-djs'});
        const ch = await g.channels.create({name: 'mod'});
        const ids = [];
        for (let i = 0; i < 5; i++) ids.push((await ch.send('bulk ' + i)).id);
        const gone = await ch.bulkDelete(ids);
        return {ids, gone: [...gone.keys()], channel: ch.id};
    """)
    check(sorted(ids["gone"]) == sorted(ids["ids"]), "bulkDelete returns the deleted")
    bulk = await a.wait_event("messageDeleteBulk")
    check(sorted(bulk["ids"]) == sorted(ids["ids"]), "messageDeleteBulk %r" % bulk)
    left = await a.call("""
        const ids = async (c) => [...(await client.channels.cache.get(c).messages.fetch({limit: 20})).keys()];
        return [...(await ids(args.general)), ...(await ids(args.mod))];
    """, general=w.general, mod=ids["channel"])
    check(not set(left) & set(ids["ids"]) and r["id"] not in left, "deleted ones are gone")
    log("ok: edit, delete, bulkDelete events")


async def typing_and_dms(w, a):
    status, _, _ = w.rest("POST", "/channels/%s/typing" % w.general, w.alice.token)
    check(status == 204, "typing 204")
    t = await a.wait_event("typingStart", lambda t: t["userId"] == w.alice.id)
    check(t["channelId"] == w.general, "typingStart")
    await a.call("await client.channels.cache.get(args.c).sendTyping()", c=w.general)

    r = await a.call("""
        const u = await client.users.fetch(args.alice);
        const dm = await u.createDM();
        const m = await u.send('hello alice');
        return {dm: dm.id, type: dm.type, recipient: dm.recipientId, channel: m.channelId};
    """, alice=w.alice.id)
    check(r["type"] == 1 and r["recipient"] == w.alice.id and r["channel"] == r["dm"], "DM %r" % r)
    status, ans, _ = w.rest("POST", "/channels/%s/messages" % r["dm"], w.alice.token,
                            {"content": "hi bot"})
    check(status == 200, "alice answers: %s" % status)
    m = await a.wait_event("messageCreate", lambda m: m["id"] == ans["id"])
    check(m["guildId"] is None and m["channelId"] == r["dm"] and m["content"] == "hi bot",
          "DM messageCreate %r" % m)
    log("ok: typing, DM open and DM messages")


async def members(w, a, bot):
    r = await a.call("""
        const g = client.guilds.cache.get(args.guild);
        const one = await g.members.fetch({user: args.alice, force: true});
        const listed = await g.members.list({limit: 100});
        const t0 = Date.now();
        const all = await g.members.fetch();          // op 8, waits for the chunks
        const ms = Date.now() - t0;
        const q = await g.members.fetch({query: 'ali', limit: 10});
        const byId = await g.members.fetch({user: [args.alice], force: true, time: 5000});
        return {one: one.user.username, listed: [...listed.keys()], all: [...all.keys()], ms,
                q: [...q.keys()], byId: [...byId.keys()]};
    """, guild=w.guild_id, alice=w.alice.id)
    check(r["one"] == "alice", "members.fetch(id) over REST")
    check({w.alice.id, bot.id} <= set(r["listed"]), "members.list (REST)")
    check({w.alice.id, bot.id} <= set(r["all"]), "members.fetch() over op 8")
    check(r["ms"] < 1000, "op 8 answered promptly (%d ms)" % r["ms"])
    check(r["q"] == [w.alice.id] and r["byId"] == [w.alice.id], "query / user_ids %r" % r)
    chunks = a.all("guildMembersChunk")
    check(chunks and all(c["guildId"] == w.guild_id for c in chunks), "guildMembersChunk events")
    log("ok: members over REST and op 8 (%d ms)" % r["ms"])


async def errors(w, a):
    bogus = str(int(w.general) + 12345)
    for cid, code, status in ((bogus, 10003, 404), (w.secret, 50001, 403)):
        try:
            await a.call("""
                await client.rest.post(djs.Routes.channelMessages(args.c), {body: {content: 'x'}});
            """, c=cid)
            check(False, "send to %s throws" % cid)
        except DjsError as e:
            check(e.info["name"] == "DiscordAPIError" and e.code == code and e.status == status,
                  "DiscordAPIError %d: %r" % (code, e.info))
    try:
        await a.call("await client.channels.fetch(args.c)", c=bogus)
        check(False, "channels.fetch of an unknown channel throws")
    except DjsError as e:
        check(e.code == 10003, "channels.fetch 10003 %r" % e.info)
    log("ok: DiscordAPIError 10003, 50001")


async def main():
    with interop.World() as w:
        bot = w.user("jsbot")
        a = await login(w, bot)
        try:
            await messages(w, a, bot)
            await history(w, a)
            await edit_delete(w, a)
            await typing_and_dms(w, a)
            await members(w, a, bot)
            await errors(w, a)
            a.check_no_errors()
        finally:
            await a.close()


interop.run(main)
