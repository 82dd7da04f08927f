#!/usr/bin/env node
// A discord.js bot for a chat server: tails a channel and answers !ping and !uptime.
//
// Unchanged discord.js 14 (npm install, see package.json); the `rest: { api }` line is
// all that differs from a bot for discord.com: the gateway's address comes from the
// server's GET /gateway/bot.
//
//   CHAT_URL=http://127.0.0.1:8790 BOT_TOKEN=... node discord_js_bot.js
//
// CHAT_URL is the gateway's address; BOT_TOKEN a bot user's token (chatctl user create
// NAME --bot); BOT_CHANNEL, if set, the id of the channel to tail (default: all).
'use strict';

const { Client, Events, GatewayIntentBits, Partials } = require('discord.js');

const url = (process.env.CHAT_URL || 'http://127.0.0.1:8790').replace(/\/+$/, '');
const channel = process.env.BOT_CHANNEL || '';
const started = Date.now();

const client = new Client({
  intents: [
    GatewayIntentBits.Guilds,
    GatewayIntentBits.GuildMessages,
    GatewayIntentBits.DirectMessages,
    GatewayIntentBits.MessageContent, // to read commands and tail message text
  ],
  partials: [Partials.Channel], // DMs the bot did not open itself
  rest: { api: `${url}/api` }, // point discord.js at our server
});

client.once(Events.ClientReady, (c) => {
  console.log(`ready: logged in as ${c.user.tag} (${c.user.id}) in ${c.guilds.cache.size} guild(s)`);
});

client.on(Events.MessageCreate, async (message) => {
  if (!channel || message.channelId === channel) {
    const when = message.createdAt.toISOString().replace(/\.\d+Z$/, 'Z');
    const where = message.guild ? `#${message.channel.name}` : 'DM';
    console.log(`${when} ${where} ${message.author.username}: ${message.content}`);
  }
  if (message.author.bot) return;
  const command = message.content.trim().split(/\s+/)[0];
  try {
    if (command === '!ping') {
      await message.reply('pong');
    } else if (command === '!uptime') {
      const s = Math.floor((Date.now() - started) / 1000);
      const pad = (n) => String(n).padStart(2, '0');
      await message.channel.send(
        `up ${Math.floor(s / 86400)}d ${pad(Math.floor(s / 3600) % 24)}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`);
    }
  } catch (e) {
    console.error(`answering ${command}: ${e.message}`);
  }
});

process.on('SIGTERM', () => client.destroy().finally(() => process.exit(0)));
process.on('SIGINT', () => client.destroy().finally(() => process.exit(0)));

client.login(process.env.BOT_TOKEN).catch((e) => {
  console.error(`login failed: ${e.message}`);
  process.exit(1);
});
