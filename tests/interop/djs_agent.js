// A discord.js 14 Client that the interop tests drive over stdin/stdout (interop.py's
// DjsAgent). argv[2] is JSON: {api, token, intents, options}. The client is pointed at our
// server the way a real bot is, with rest.api only; everything else is stock.
//
// stdout: one JSON object a line. {"event": name, "data": ...} for the client's events
// (clientReady with the milliseconds from login(), messages, edits, deletes, typing,
// presence updates, shard life-cycle, errors); {"id": n, "ok": value} or {"id": n,
// "error": {...}} answering a command. stdin: {"id": n, "code": "<body of an async
// function(client, args, state, msg, commands, presence)>", "args": {...}}: `msg` and
// `presence` turn a Message / Presence into the JSON the events carry, and `commands`
// holds ready-made commands (commands.setPresence(args), commands.presences(args)) for
// code such as "return commands.setPresence(args)". Debug output goes to stderr.
'use strict';

const djs = require('discord.js');
const { Client, Events, Partials, DiscordAPIError } = djs;
globalThis.djs = djs; // for the commands' code

const conf = JSON.parse(process.argv[2]);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const event = (name, data) => out({ event: name, data: data === undefined ? null : data });

function msg(m) {
  return {
    id: m.id,
    channelId: m.channelId,
    guildId: m.guildId,
    content: m.content,
    authorId: m.author ? m.author.id : null,
    type: m.type,
    reference: m.reference ? m.reference.messageId : null,
    editedTimestamp: m.editedTimestamp,
    partial: m.partial,
  };
}

function presence(p) {
  if (!p) return null;
  return {
    userId: p.userId,
    guildId: p.guild ? p.guild.id : null,
    status: p.status,
    activities: (p.activities || []).map((a) => ({ name: a.name, type: a.type, state: a.state ?? null })),
    clientStatus: p.clientStatus ?? null,
  };
}

function errorInfo(e) {
  const info = { name: e && e.constructor ? e.constructor.name : 'Error', message: String(e && e.message) };
  if (e instanceof DiscordAPIError) {
    info.code = e.code;
    info.status = e.status;
    info.method = e.method;
    info.url = e.url;
  } else if (e && e.code !== undefined) {
    info.code = e.code;
  }
  return info;
}

const options = {
  intents: conf.intents,
  rest: { api: conf.api },
  partials: [Partials.Channel],
  ...(conf.options || {}),
};
if (conf.options && conf.options.rest) options.rest = { api: conf.api, ...conf.options.rest };
const client = new Client(options);
const state = { rateLimited: [], ready: 0 };

client.on(Events.ClientReady, () => {
  state.ready += 1;
  event('clientReady', { ms: Date.now() - state.loginAt, user: client.user.id, guilds: client.guilds.cache.map((g) => g.id) });
});
client.on(Events.MessageCreate, (m) => event('messageCreate', msg(m)));
client.on(Events.MessageUpdate, (o, m) => event('messageUpdate', msg(m)));
client.on(Events.MessageDelete, (m) => event('messageDelete', { id: m.id, channelId: m.channelId }));
client.on(Events.MessageBulkDelete, (c, ch) =>
  event('messageDeleteBulk', { ids: [...c.keys()], channelId: ch.id }));
client.on(Events.TypingStart, (t) =>
  event('typingStart', { channelId: t.channel.id, userId: t.user.id }));
client.on(Events.GuildMembersChunk, (members, guild, chunk) =>
  event('guildMembersChunk', { guildId: guild.id, count: members.size, index: chunk.index, nonce: chunk.nonce }));
client.on(Events.PresenceUpdate, (o, n) => event('presenceUpdate', { ...presence(n), oldStatus: o ? o.status : null }));
client.on(Events.ChannelCreate, (c) => event('channelCreate', { id: c.id, guildId: c.guildId }));
client.on(Events.ShardResume, (id, replayed) => event('shardResume', { id, replayed }));
client.on(Events.ShardReconnecting, (id) => event('shardReconnecting', { id }));
client.on(Events.ShardDisconnect, (ev, id) => event('shardDisconnect', { id, code: ev && ev.code }));
client.on(Events.ShardReady, (id) => event('shardReady', { id }));
client.on(Events.Invalidated, () => event('invalidated'));
client.on(Events.Error, (e) => event('error', errorInfo(e)));
client.on(Events.Warn, (w) => event('warn', String(w)));
client.rest.on('rateLimited', (info) => {
  state.rateLimited.push(info);
  // Both the waits @discordjs/rest foresaw from X-RateLimit-* and the 429s it met.
  event('rateLimited', { route: info.route, retryAfter: info.retryAfter, global: info.global, scope: info.scope });
});
// Only the 429s it met (its own debug line for them).
client.rest.on('restDebug', (d) => {
  if (d.includes('Encountered unexpected 429')) event('got429', { line: d.split('\n')[0] });
});
// The last debug lines are kept (state.debug) for tests that look for a library's own
// account of what it did, e.g. an op 7 RECONNECT.
state.debug = [];
client.on(Events.Debug, (d) => {
  state.debug.push(d);
  if (state.debug.length > 500) state.debug.shift();
  if (process.env.INTEROP_VERBOSE) process.stderr.write(d + '\n');
});

// Commands the tests call by name from their code (see the top of the file).
const commands = {
  // client.user.setPresence({status, activities: [{name, type?, state?}], afk?}): the op 3
  // discord.js sends; answers the client's own presence as it now believes it is.
  setPresence: (args) => {
    const p = client.user.setPresence(args);
    return { status: p.status, activities: p.activities.map((a) => ({ name: a.name, type: a.type })) };
  },
  // The presences cached for guild args.guild (from GUILD_CREATE and PRESENCE_UPDATE).
  presences: (args) => {
    const g = client.guilds.cache.get(args.guild);
    return g ? [...g.presences.cache.values()].map(presence) : null;
  },
};

const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
let buffered = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  let nl;
  while ((nl = buffered.indexOf('\n')) >= 0) {
    const line = buffered.slice(0, nl);
    buffered = buffered.slice(nl + 1);
    if (!line.trim()) continue;
    let cmd;
    try {
      cmd = JSON.parse(line);
    } catch (e) {
      out({ id: null, error: errorInfo(e) });
      continue;
    }
    (async () => {
      try {
        const fn = new AsyncFunction('client', 'args', 'state', 'msg', 'commands', 'presence', cmd.code);
        const value = await fn(client, cmd.args || {}, state, msg, commands, presence);
        out({ id: cmd.id, ok: value === undefined ? null : value });
      } catch (e) {
        out({ id: cmd.id, error: errorInfo(e) });
      }
    })();
  }
});
process.stdin.on('end', () => {
  client.destroy().finally(() => process.exit(0));
});

process.on('unhandledRejection', (e) => event('error', { unhandled: true, ...errorInfo(e) }));

state.loginAt = Date.now();
client.login(conf.token).catch((e) => {
  event('loginError', errorInfo(e));
  process.exit(3);
});
