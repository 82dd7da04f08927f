#!/bin/sh
# uptime-bot.sh: a chat bot in shell that answers "!uptime" with this host's uptime.
#
# Usage: uptime-bot.sh CHANNEL
#
# It follows CHANNEL (an id or GUILD/#name) with `chatctl tail -f --json`, one message
# object per line, and for each message whose content is exactly "!uptime" posts the
# output of uptime(1) with `chatctl send`. chatctl reconnects and resumes by itself,
# so the bot runs until chatctl stops for good (a revoked token, say) or it is killed;
# it then exits with chatctl's status.
#
# It never answers itself: its replies start with REPLY_PREFIX and messages starting with
# that prefix are skipped, and, when BOT_USER_ID is set, so is every message from
# that user id. JSON is read with jq when installed, else with python3.
#
# Set up a bot user once, then run the bot with its token:
#
#   chatctl user create uptimebot --bot          # prints the id and the token
#   chatctl member add ops uptimebot
#   CHAT_TOKEN=<token> BOT_USER_ID=<id> ./uptime-bot.sh 'ops/#bots'
#
# Environment:
#   CHAT_CONFIG, CHAT_URL, CHAT_TOKEN   as for chatctl(1)
#   BOT_USER_ID    the bot user's id; its messages are ignored (optional)
#   REPLY_PREFIX   start of every reply (default "[uptime]")
#   CHATCTL        the chatctl program (default: chatctl from PATH)
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 CHANNEL" >&2
    exit 64
fi
channel=$1
chatctl=${CHATCTL:-chatctl}
prefix=${REPLY_PREFIX:-[uptime]}
self=${BOT_USER_ID:-}
export prefix self

# Reads NDJSON message objects on stdin, skipping lines that are not JSON; prints the id
# of each message to answer, one a line, flushed at once.
if command -v jq >/dev/null 2>&1; then
    select_commands() {
        jq -R --unbuffered -r --arg self "$self" --arg prefix "$prefix" '
            fromjson? | objects
            | select((.content // "") == "!uptime")
            | select($self == "" or (.author.id // "") != $self)
            | select((.content // "") | startswith($prefix) | not)
            | .id'
    }
elif command -v python3 >/dev/null 2>&1; then
    select_commands() {
        python3 -u -c '
import json, os, sys
me, prefix = os.environ["self"], os.environ["prefix"]
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    content = m.get("content") or ""
    author = (m.get("author") or {}).get("id", "")
    if content == "!uptime" and not content.startswith(prefix) and not (me and author == me):
        print(m.get("id", ""), flush=True)
'
    }
else
    echo "$0: needs jq or python3" >&2
    exit 69
fi

# chatctl's status crosses the pipe through a file: POSIX sh has no pipefail.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# -n 0: start with new messages, not by answering old ones.
{
    st=0
    "$chatctl" tail -f -n 0 --json "$channel" || st=$?
    echo "$st" >"$tmp/status"
} | select_commands | while read -r id; do
    if ! "$chatctl" send "$channel" "$prefix $(uptime)" >/dev/null; then
        echo "$0: could not answer message $id" >&2
    fi
done

status=$(cat "$tmp/status" 2>/dev/null || echo 69)
exit "$status"
