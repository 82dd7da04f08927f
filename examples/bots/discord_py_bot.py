#!/usr/bin/python3
"""A discord.py bot for a chat server: tails a channel and answers !ping and !uptime.

Unchanged discord.py 2.x (Debian: apt install python3-discord); the two lines under
"Point discord.py at our server" are all that differs from a bot for discord.com.

    CHAT_URL=http://127.0.0.1:8790 BOT_TOKEN=... ./discord_py_bot.py

CHAT_URL is the gateway's address ([gateway] listen, or public_url's host); BOT_TOKEN
a bot user's token (chatctl user create NAME --bot); BOT_CHANNEL, if set, is the id of
the channel to tail (default: every channel the bot can see).
"""

import datetime
import os
import time

import discord
import yarl
from discord.ext import commands

URL = os.environ.get("CHAT_URL", "http://127.0.0.1:8790").rstrip("/")
TOKEN = os.environ["BOT_TOKEN"]
CHANNEL = int(os.environ.get("BOT_CHANNEL", "0"))

# Point discord.py at our server (REST base and gateway; discord.py has no option for it).
discord.http.Route.BASE = URL + "/api/v10"
discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL("ws" + URL[4:] + "/gateway")

intents = discord.Intents.default()
intents.message_content = True  # to read commands and tail message text
bot = commands.Bot(command_prefix="!", intents=intents, help_command=None)
started = time.monotonic()


@bot.event
async def on_ready():
    print("ready: logged in as %s (%s) in %d guild(s)" % (bot.user, bot.user.id, len(bot.guilds)),
          flush=True)


@bot.event
async def on_message(message):
    if not CHANNEL or message.channel.id == CHANNEL:
        when = message.created_at.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        where = "#%s" % message.channel.name if message.guild else "DM"
        print("%s %s %s: %s" % (when, where, message.author.name, message.content), flush=True)
    await bot.process_commands(message)  # the commands below; messages from bots are ignored


@bot.command()
async def ping(ctx):
    """Answers pong, as a reply to the command."""
    await ctx.reply("pong")


@bot.command()
async def uptime(ctx):
    """How long this bot has been running."""
    s = int(time.monotonic() - started)
    await ctx.send("up %dd %02d:%02d:%02d" % (s // 86400, s // 3600 % 24, s // 60 % 60, s % 60))


if __name__ == "__main__":
    bot.run(TOKEN)  # logs to stderr; Ctrl-C or SIGTERM stops it
