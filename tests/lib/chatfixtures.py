"""What the gateway tests set up through a running gatewayd's REST API, as its admin:
bot users, guilds, members.

Python 3 standard library only. Every call checks its answer and raises
chattest.ChatTestError naming what failed.

    import chatfixtures
    alice = chatfixtures.new_user(port, admin_token, "alice")
    gid = chatfixtures.new_guild(port, admin_token, "g", [alice])
"""

import chattest


def api(port, method, path, token=None, body=None):
    """(status, parsed JSON or None) of one call to /api/v10<path> on 127.0.0.1:port."""
    status, parsed, _ = chattest.rest(port, method, path, token, body)
    return status, parsed


def _check(cond, what):
    if not cond:
        raise chattest.ChatTestError(what)


def new_user(port, admin, name):
    """A new bot user: the admin route's answer (id, name, token)."""
    status, u = api(port, "POST", "/admin/users", admin, {"name": name, "bot": True})
    _check(status == 200 and u and u.get("token"), "create user %s: %s %r" % (name, status, u))
    return u


def add_member(port, admin, gid, user):
    """Adds `user` (as new_user returned it) to guild `gid`."""
    status, _ = api(port, "PUT", "/guilds/%s/members/%s" % (gid, user["id"]), admin)
    _check(status in (200, 201, 204), "add member %s: %s" % (user["name"], status))


def new_guild(port, admin, name, members):
    """A new guild owned by the admin, with `members` added; its id."""
    status, g = api(port, "POST", "/guilds", admin, {"name": name})
    _check(status in (200, 201), "create guild %s: %s %r" % (name, status, g))
    for u in members:
        add_member(port, admin, g["id"], u)
    return g["id"]
