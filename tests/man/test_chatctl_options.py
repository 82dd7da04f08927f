#!/usr/bin/env python3
"""The manual pages name what the programs accept.

1. Every long option that `chatctl --help`, and the --help of each subcommand it lists
   (recursively: `chatctl store --help`, `chatctl store stats --help`, ...), prints must
   appear in man/man1/chatctl.1. The help is CLI11's: sections headed "Options:",
   "Subcommands:" and so on, entries indented by two spaces.
2. Every key of examples/chat.toml must be documented in man/man5/chat.toml.5, and
   every key of the key table in lib/chat/config/config.cpp must be in both.

Environment (set by CTest): CHAT_BIN=<build>/bin, CHAT_SOURCE=<repo root>. When
$CHAT_BIN/chatctl does not exist, part 1 prints "SKIP: chatctl not built" and passes.
Exit status: 0 when everything checked is documented, 1 otherwise.
"""

import os
import re
import shutil
import subprocess
import sys

SOURCE = os.environ.get("CHAT_SOURCE") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("CHAT_BIN") or os.path.join(SOURCE, "build", "bin")
CHATCTL_MAN = os.path.join(SOURCE, "man", "man1", "chatctl.1")
TOML_MAN = os.path.join(SOURCE, "man", "man5", "chat.toml.5")
EXAMPLE = os.path.join(SOURCE, "examples", "chat.toml")
CONFIG_CPP = os.path.join(SOURCE, "lib", "chat", "config", "config.cpp")

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


# ---- part 1: chatctl options ----------------------------------------------------------

def man_long_options(path):
    """Long options named in an mdoc page: `Fl -name` in the source, plus `--name` in
    the rendered text when mandoc is installed."""
    text = read(path)
    found = {"-" + m for m in re.findall(r"\bFl\s+(-[A-Za-z0-9][\w-]*)", text)}
    if shutil.which("mandoc"):
        out = subprocess.run(["mandoc", "-T", "ascii", path], capture_output=True,
                             text=True).stdout
        out = re.sub(r".\x08", "", out)  # overstrike (bold, underline)
        found |= set(re.findall(r"(?<![\w-])(--[A-Za-z0-9][\w-]*)", out))
    return found


def run_help(path):
    cmd = [os.path.join(BIN, "chatctl")] + path + ["--help"]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=20,
                           stdin=subprocess.DEVNULL, env=dict(os.environ, NO_COLOR="1"))
    except subprocess.TimeoutExpired:
        fail("`%s` did not finish in 20 s" % " ".join(cmd[1:]))
        return None
    if p.returncode != 0:
        fail("`%s` exited with %d (chatctl(1) says 0)" % (" ".join(["chatctl"] + path[:] +
                                                                   ["--help"]), p.returncode))
    return p.stdout + p.stderr


def parse_help(text):
    """Returns (long options, subcommand names) of one CLI11 help text."""
    options = set(re.findall(r"(?<![\w-])(--[A-Za-z0-9][\w-]*)", text))
    subcommands = []
    section = None
    for line in text.splitlines():
        header = re.match(r"^(\S[^:]*):\s*$", line)
        if header:
            section = header.group(1).strip().lower()
            continue
        if not line.strip():
            continue
        if not line.startswith(" "):
            section = None  # "Usage: ..." and free text
            continue
        if section is None or section in ("options", "positionals") or "option" in section:
            continue
        entry = re.match(r"^  (\S+)", line)
        if entry and not entry.group(1).startswith("-"):
            subcommands.append(entry.group(1))
    return options, subcommands


def check_chatctl():
    chatctl = os.path.join(BIN, "chatctl")
    if not (os.path.isfile(chatctl) and os.access(chatctl, os.X_OK)):
        print("SKIP: chatctl not built (%s)" % chatctl)
        return
    documented = man_long_options(CHATCTL_MAN)
    seen = {}  # option -> first command path whose help shows it
    queue = [[]]
    visited = set()
    while queue:
        path = queue.pop(0)
        key = tuple(path)
        if key in visited or len(path) > 4:
            continue
        visited.add(key)
        text = run_help(path)
        if text is None:
            continue
        options, subs = parse_help(text)
        if not options and not subs:
            fail("`chatctl %s --help` printed no options" % " ".join(path))
        for opt in options:
            seen.setdefault(opt, " ".join(["chatctl"] + path))
        for sub in subs:
            queue.append(path + [sub])
    print("chatctl: %d help texts, %d long options" % (len(visited), len(seen)))
    for opt in sorted(seen):
        if opt not in documented:
            fail("%s (from `%s --help`) is missing from man/man1/chatctl.1" % (opt, seen[opt]))


# ---- part 2: configuration keys --------------------------------------------------------

def example_keys(path):
    """Dotted names of every key in a chat.toml ("data_dir", "gateway.listen")."""
    try:
        import tomllib
    except ImportError:
        tomllib = None
    if tomllib:
        with open(path, "rb") as f:
            data = tomllib.load(f)
        keys = []
        for k, v in data.items():
            if isinstance(v, dict):
                keys += [k + "." + sub for sub in v]
            else:
                keys.append(k)
        return keys
    keys, table = [], ""
    for line in read(path).splitlines():
        if line.lstrip().startswith("#"):
            continue
        m = re.match(r"^\s*\[([\w.-]+)\]\s*$", line)
        if m:
            table = m.group(1)
            continue
        m = re.match(r"^\s*([\w-]+)\s*=", line)
        if m:
            keys.append((table + "." if table else "") + m.group(1))
    return keys


def man_keys(path):
    """Dotted names of the keys chat.toml(5) documents: `.It Ic key` items under
    `.Ss Top level` or `.Ss [table]`, plus any `Ic table.key` written out in full."""
    keys = set()
    table = None
    for line in read(path).splitlines():
        if line.startswith(".Sh "):
            table = None
        m = re.match(r"^\.Ss\s+(.*)$", line)
        if m:
            title = m.group(1).strip()
            t = re.match(r"^\[([\w.-]+)\]$", title)
            table = t.group(1) if t else ("" if title.lower() == "top level" else None)
            continue
        m = re.match(r"^\.It\s+Ic\s+([\w.-]+)", line)
        if m and table is not None:
            keys.add((table + "." if table else "") + m.group(1))
        keys |= set(re.findall(r"\bIc\s+([a-z_]+\.[a-z_]+)\b", line))
    return keys


def key_table(path):
    """Names in config.cpp's key_table(): str_key("..."), int_key("..."), bool_key("...")."""
    return re.findall(r"\b(?:str|int|bool)_key\(\s*\"([\w.]+)\"", read(path))


def check_config_keys():
    if not os.path.isfile(TOML_MAN):
        fail("man/man5/chat.toml.5 does not exist")
        return
    documented = man_keys(TOML_MAN)
    example = example_keys(EXAMPLE) if os.path.isfile(EXAMPLE) else []
    if not example:
        fail("examples/chat.toml is missing or has no keys")
    for k in example:
        if k not in documented:
            fail("key %s of examples/chat.toml is missing from man/man5/chat.toml.5" % k)
    if os.path.isfile(CONFIG_CPP):
        table = key_table(CONFIG_CPP)
        for k in table:
            if k not in documented:
                fail("key %s of config.cpp's key table is missing from chat.toml(5)" % k)
            if k not in example:
                fail("key %s of config.cpp's key table is missing from examples/chat.toml" % k)
        for k in example:
            if table and k not in table:
                fail("examples/chat.toml has %s, which config.cpp does not know" % k)
        print("chat.toml: %d keys in the example, %d in the key table" % (len(example),
                                                                           len(table)))


def main():
    check_chatctl()
    check_config_keys()
    if failures:
        print("%d problem(s); document them or fix the names" % len(failures))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
