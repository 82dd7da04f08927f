#!/usr/bin/python3
"""chatctl's admin commands, names and exit codes against the real daemon set:
status --json lists the four children running; guild/channel/user/member/token round
trips (a created user's token works until revoked, a new one works again); ops/#alerts
style names and ambiguous names; edit and delete; tail without -f and --cursor-file for
incremental runs; exit codes 64 (usage, ambiguous name), 65 (rejected input),
66 (unknown channel, guild, user, message), 77 (bad or revoked token) and, once the
daemon set is down, 69.
"""

import json
import os
import subprocess

import chattest

def check_status(ctl):
    children = ctl.json_lines("--json", "status")
    names = [c["name"] for c in children]
    assert names == ["nats-server"] + list(chattest.DAEMONS), names
    for c in children:
        assert c["state"] == "running" and c["pid"] > 0, c
        assert set(c) >= {"name", "pid", "state", "restarts", "uptime_s"}, c
    people = ctl.run("status").stdout.splitlines()
    assert people[0].split() == ["NAME", "PID", "STATE", "RESTARTS", "UPTIME"], people
    chattest.log("status: %s" % ", ".join(names))


def check_directory(ctl):
    guild = ctl.json_lines("--json", "guild", "create", "ops")[0]
    assert set(guild) == {"id", "name"} and guild["name"] == "ops", guild
    assert isinstance(guild["id"], str) and guild["id"].isdigit()
    alerts = ctl.json_lines("--json", "channel", "create", "ops", "alerts")[0]
    assert set(alerts) == {"id", "guild_id", "name", "type"}, alerts
    assert alerts["guild_id"] == guild["id"] and alerts["type"] == 0
    by_id = ctl.json_lines("--json", "channel", "create", guild["id"], "deploys")[0]
    names = {c["name"] for c in ctl.json_lines("--json", "channel", "list", "ops")}
    assert {"alerts", "deploys"} <= names, names
    assert any(g["id"] == guild["id"] for g in ctl.json_lines("--json", "guild", "list"))
    # People's output: one aligned line per channel.
    assert any("#deploys" in l for l in ctl.run("channel", "list", "ops").stdout.splitlines())
    # Two guilds of one name: a usage error naming both ids.
    a = ctl.json_lines("--json", "guild", "create", "twin")[0]["id"]
    b = ctl.json_lines("--json", "guild", "create", "twin")[0]["id"]
    p = ctl.run("channel", "list", "twin", expect=64)
    assert a in p.stderr and b in p.stderr, p.stderr
    ctl.run("guild", "delete", a)
    ctl.run("channel", "list", "twin")  # one left: no longer ambiguous
    chattest.log("directory: guild and channel create/list/delete, ambiguous names")
    return guild, alerts, by_id


def check_users(ctl, guild):
    bot = ctl.json_lines("--json", "user", "create", "deploybot", "--bot")[0]
    assert set(bot) == {"id", "name", "bot", "token"}, bot
    assert bot["name"] == "deploybot" and bot["bot"] is True and bot["token"]
    person = ctl.run("user", "create", "alice").stdout
    assert "alice" in person and "token" in person, person

    as_bot = chattest.Chatctl(ctl.config)
    as_bot.env["CHAT_TOKEN"] = bot["token"]
    # Not a member yet: the channel is not visible to the bot.
    p = as_bot.run("send", "ops/#alerts", "hello", expect=None)
    assert p.returncode in (66, 77), (p.returncode, p.stderr)
    ctl.run("member", "add", "ops", "deploybot")
    sent = as_bot.run("send", "ops/#alerts", "deploy done").stdout.split()
    assert len(sent) == 1 and sent[0].isdigit(), sent
    assert any(g["id"] == guild["id"] for g in as_bot.json_lines("--json", "guild", "list"))

    ctl.run("token", "revoke", "deploybot")
    p = as_bot.run("send", "ops/#alerts", "after revoke", expect=77)
    assert p.stderr.startswith("chatctl: ") and len(p.stderr.splitlines()) == 1, p.stderr
    new = ctl.json_lines("--json", "token", "create", bot["id"])[0]
    assert new["token"] and new["token"] != bot["token"] and new["id"] == bot["id"], new
    as_bot.env["CHAT_TOKEN"] = new["token"]
    as_bot.run("send", "ops/#alerts", "with the new token")
    ctl.run("member", "remove", "ops", "deploybot")
    p = as_bot.run("send", "ops/#alerts", "after removal", expect=None)
    assert p.returncode in (66, 77), (p.returncode, p.stderr)
    ctl.run("member", "add", "ops", "nosuchuser", expect=66)
    ctl.run("token", "revoke", "nosuchuser", expect=66)
    chattest.log("users: create, member add/remove, token revoke/create round trip")


def check_messages(ctl, alerts):
    ids = ctl.run("send", "ops/#alerts", stdin="one\n\ntwo\nthree\n").stdout.split()
    assert len(ids) == 3, ids
    one = ctl.json_lines("--json", "send", alerts["id"], "four", "words", "in", "one")[0]
    assert one["content"] == "four words in one" and one["channel_id"] == alerts["id"], one
    edited = ctl.json_lines("--json", "edit", "ops/#alerts", ids[1], "TWO")[0]
    assert edited["content"] == "TWO" and edited["edited_timestamp"], edited
    ctl.run("delete", "ops/#alerts", ids[2])
    ctl.run("delete", "ops/#alerts", ids[2], expect=66)
    last = ctl.json_lines("tail", "-n", "3", "ops/#alerts")  # stdout is a pipe: NDJSON
    assert [m["content"] for m in last] == ["one", "TWO", "four words in one"], last
    people = ctl.run("history", "ops/#alerts", "--limit", "1").stdout
    assert "#alerts" in people and "four words in one" in people and people.count("\n") == 1
    chattest.log("messages: send, edit, delete, tail -n, history")


def check_cursor(ctl, tmp):
    cursor = os.path.join(tmp, "alerts.cursor")
    first = ctl.json_lines("tail", "-n", "2", "--cursor-file", cursor, "ops/#alerts")
    assert len(first) == 2
    assert open(cursor).read().strip() == first[-1]["id"]
    assert ctl.json_lines("tail", "--cursor-file", cursor, "ops/#alerts") == []
    new = ctl.run("send", "ops/#alerts", stdin="c1\nc2\nc3\n").stdout.split()
    again = ctl.json_lines("tail", "--cursor-file", cursor, "ops/#alerts")
    assert [m["id"] for m in again] == new, again
    assert open(cursor).read().strip() == new[-1]
    since = ctl.json_lines("tail", "--since", new[0], "ops/#alerts")
    assert [m["id"] for m in since] == new[1:], since
    chattest.log("tail --cursor-file: incremental runs print each message once")


def check_errors(ctl):
    for args in (["frobnicate"], ["tail"], ["send"], ["--no-such-flag", "status"],
                 ["history", "ops/#alerts", "--before", "x"],
                 ["history", "ops/#alerts", "--before", "1", "--after", "2"],
                 ["send", "no-hash-channel", "x"]):
        p = ctl.run(*args, expect=64)
        assert p.stdout == "" and p.stderr.startswith("chatctl: "), (args, p.stdout, p.stderr)
    assert ctl.run("--help").stdout.startswith("send, follow")
    ctl.run("send", "ops/#nosuch", "x", expect=66)
    ctl.run("send", "nosuch/#alerts", "x", expect=66)
    ctl.run("send", "1234567890123456789", "x", expect=66)
    ctl.run("history", "1234567890123456789", expect=66)
    ctl.run("send", "ops/#alerts", "x" * 2001, expect=65)
    ctl.run("--token", "not-a-token", "send", "ops/#alerts", "x", expect=77)
    bad = chattest.Chatctl(ctl.config)
    bad.env["CHAT_TOKEN"] = "not-a-token"
    bad.run("guild", "list", expect=77)
    chattest.log("exit codes: 64, 65, 66, 77")


def main():
    chattest.require_programs("chatd", "stored", "guildd", "gatewayd", "chatctl")
    with chattest.TestDir() as tmp:
        cfg = chattest.write_config(tmp)
        ctl = chattest.Chatctl(cfg)
        with chattest.Chatd(cfg) as chatd:
            chatd.wait_running()
            check_status(ctl)
            guild, alerts, _ = check_directory(ctl)
            check_users(ctl, guild)
            check_messages(ctl, alerts)
            check_cursor(ctl, tmp)
            check_errors(ctl)
            chatd.stop()
        # The daemon set is down: unreachable is 69, for REST and for status alike.
        p = ctl.run("history", alerts["id"], expect=69)
        assert "cannot reach" in p.stderr, p.stderr
        ctl.run("status", expect=69)
        chattest.log("daemon set down: 69")
    chattest.log("PASS")


if __name__ == "__main__":
    main()
