"""Big guilds for tests, fast: users and memberships written straight into stored's
directory over the bus, then guildd restarted so that it loads them.

Creating members one REST call at a time costs a few milliseconds each (two for a user:
create, then add); this writes 1000 records per dir.put request (stored's bound),
encoded exactly as guildd encodes them (daemons/guildd/dir_keys.hpp: 'u' user_id, 'm'
guild_id user_id, big-endian; values msgpack proto::User and proto::Member with the
fields in their MSGPACK_DEFINE_MAP order), as tests/integration/test_directory_paging.py
does. guildd reads the directory only at startup, so restart_guildd() SIGKILLs it and
waits until chatd has restarted it and it is ready. The users have ids from `base` up, far
below the snowflakes guildd makes, and no token unless asked for (with_tokens: the token
is made as guildd makes one, base64url of the decimal id, a dot, base64url of 32 random
bytes, and its SHA-256 is stored under 'h' user_id), so they can log in.

Used by tests/integration/test_large_guild.py and tests/interop/test_large_guild_dpy.py.
"""

import base64
import hashlib
import os
import signal
import struct
import time

import chattest
from msgpack_mini import packb, unpackb
from nats_mini import NatsClient

BATCH = 1000  # stored's dir.put bound


def be64(n):
    return struct.pack(">Q", n)


def _user_record(uid, name):
    return {"key": b"u" + be64(uid),
            "value": packb({"id": uid, "name": name, "bot": False, "admin": False})}


def _member_record(gid, uid, name, joined_ms):
    return {"key": b"m" + be64(gid) + be64(uid),
            "value": packb({"guild_id": gid, "user_id": uid, "user_name": name,
                            "user_bot": False, "joined_ms": joined_ms, "nick": ""})}


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_token(uid):
    return _b64url(str(uid).encode()) + "." + _b64url(os.urandom(32))


def _token_record(uid, token):
    return {"key": b"h" + be64(uid), "value": hashlib.sha256(token.encode()).digest()}


def _put(nc, entries):
    raw = nc.request("chat.store.0", packb({"v": 1, "op": "dir.put", "entries": entries}), 20.0)
    r = unpackb(raw)
    if r["status"] != 200:
        raise chattest.ChatTestError("dir.put: %r" % r)


def write_members(nats_port, guild_ids, count, base, prefix="bulk", tokens=None):
    """Writes `count` users (ids base..base+count-1, names prefix-<i>) and makes each a
    member of every guild in guild_ids. Returns the user ids. With a list as `tokens`,
    each user also gets a token, appended to it in user id order."""
    uids = [base + i for i in range(count)]
    joined = int(time.time() * 1000)
    nc = NatsClient("127.0.0.1", nats_port)
    try:
        for start in range(0, count, BATCH):
            chunk = uids[start:start + BATCH]
            _put(nc, [_user_record(u, "%s-%d" % (prefix, u - base)) for u in chunk])
            if tokens is not None:
                made = [make_token(u) for u in chunk]
                _put(nc, [_token_record(u, t) for u, t in zip(chunk, made)])
                tokens.extend(made)
            for gid in guild_ids:
                _put(nc, [_member_record(int(gid), u, "%s-%d" % (prefix, u - base), joined)
                          for u in chunk])
    finally:
        nc.close()
    return uids


def restart_guildd(chatd, cfg, timeout=60):
    """SIGKILLs guildd and waits until chatd restarted it and it answers /readyz."""
    old = chatd.child("guildd")
    os.kill(old["pid"], signal.SIGKILL)
    chatd.wait_until(
        lambda cs: any(c["name"] == "guildd" and c["state"] == "running" and c["pid"] > 0
                       and c["pid"] != old["pid"] for c in cs),
        timeout, "guildd restarted by chatd")
    chattest.wait_for(
        lambda: chattest.http_get("127.0.0.1", cfg.ports["guild"], "/readyz")[0] == 200,
        timeout, "guildd /readyz after the restart")
