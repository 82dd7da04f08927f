"""Helpers for the integration tests: a daemon set of our own on free loopback ports.

Python 3 standard library only. CTest runs each tests/integration/test_*.py with
CHAT_BIN=<build>/bin, CHAT_SOURCE=<repo> and this directory on PYTHONPATH.

Typical use:

    import chattest
    chattest.require_programs("chatd", "stored", "guildd", "gatewayd")
    with chattest.TestDir() as tmp:
        cfg = chattest.write_config(tmp)
        with chattest.Chatd(cfg) as chatd:
            chatd.wait_running()
            print(chatd.status())
            chatd.stop()               # asserts exit 0 and that no process is left

Every wait polls something that says whether the thing happened (chatd's status socket,
an HTTP endpoint, a pid) with a deadline; nothing sleeps and hopes. Whatever a test
leaves running is killed by Chatd.__exit__ (process groups of every pid chatd reported).
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

DAEMONS = ("stored", "guildd", "presenced", "gatewayd")  # chatd's children, in start order


class ChatTestError(AssertionError):
    pass


# ---------------------------------------------------------------------------------------
# Where things are


def bin_dir():
    """The build's bin/ directory ($CHAT_BIN), where chatd and the daemons are."""
    d = os.environ.get("CHAT_BIN")
    if not d:
        here = os.path.dirname(os.path.abspath(__file__))
        d = os.path.join(here, "..", "..", "build", "bin")
    return os.path.abspath(d)


def source_dir():
    """The repository ($CHAT_SOURCE)."""
    d = os.environ.get("CHAT_SOURCE")
    if not d:
        d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    return os.path.abspath(d)


def program(name):
    return os.path.join(bin_dir(), name)


def find_nats_server():
    """nats-server as chatd finds it: $PATH, then /usr/sbin. None if absent."""
    found = shutil.which("nats-server")
    if found:
        return found
    if os.access("/usr/sbin/nats-server", os.X_OK):
        return "/usr/sbin/nats-server"
    return None


def skip(reason):
    """Ends the test as skipped: one SKIP line, exit status 0."""
    print("SKIP: " + reason, flush=True)
    sys.exit(0)


def require_programs(*names):
    """Skips the test unless every named program is in bin_dir() (and nats-server exists)."""
    missing = [n for n in names if not os.access(program(n), os.X_OK)]
    if missing:
        skip("not built: " + ", ".join(program(n) for n in missing))
    if find_nats_server() is None:
        skip("nats-server not found in PATH or /usr/sbin")


def log(msg):
    print(msg, flush=True)


# ---------------------------------------------------------------------------------------
# Ports, directories, config


def free_ports(n, host="127.0.0.1"):
    """n distinct TCP ports that were free on host a moment ago.

    All n are held open together while choosing, so they are distinct; another process
    may still take one before the daemon binds it, which is rare enough on loopback.
    """
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port(host="127.0.0.1"):
    return free_ports(1, host)[0]


class TestDir:
    """A temporary directory, removed on exit unless $CHATTEST_KEEP is set.

    Kept short (under /tmp) because Unix socket paths must fit in 108 bytes.
    """

    def __init__(self, prefix="chat-"):
        self.path = tempfile.mkdtemp(prefix=prefix, dir="/tmp")

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        if os.environ.get("CHATTEST_KEEP"):
            log("kept " + self.path)
        else:
            shutil.rmtree(self.path, ignore_errors=True)
        return False


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v))  # a JSON string is a valid TOML basic string


class TestConfig:
    """What write_config() wrote: the file, the data directory and the chosen ports."""

    def __init__(self, path, data_dir, ports, tables):
        self.path = path
        self.data_dir = data_dir
        self.ports = ports  # {"nats", "gateway", "guild", "store", "chatd", "presence"}: port
        self.tables = tables

    @property
    def nats_url(self):
        return "nats://127.0.0.1:%d" % self.ports["nats"]

    @property
    def gateway_url(self):
        return "http://127.0.0.1:%d" % self.ports["gateway"]

    @property
    def control_socket(self):
        return os.path.join(self.data_dir, "chatd.sock")


def write_config(directory, extra=None, name="chat.toml"):
    """Writes a chat.toml for a test into directory and returns a TestConfig.

    Every listening address is a free loopback port and data_dir is directory/var.
    `extra` adds or replaces keys: {"chatd": {"intensity": 10}, "store": {"sync": "none"}};
    a non-dict value sets a top-level key ({"shards": 2}).
    """
    ports = dict(zip(("nats", "gateway", "guild", "store", "chatd", "presence"), free_ports(6)))
    data_dir = os.path.join(directory, "var")
    top = {"data_dir": data_dir}
    tables = {
        "nats": {"url": "nats://127.0.0.1:%d" % ports["nats"], "spawn": True},
        "chatd": {
            "listen": "127.0.0.1:%d" % ports["chatd"],
            "stop_timeout_ms": 5000,
            "ready_timeout_ms": 30000,
        },
        "gateway": {"listen": "127.0.0.1:%d" % ports["gateway"]},
        "guild": {"listen": "127.0.0.1:%d" % ports["guild"]},
        "store": {"listen": "127.0.0.1:%d" % ports["store"]},
        "presence": {"listen": "127.0.0.1:%d" % ports["presence"]},
    }
    for key, value in (extra or {}).items():
        if isinstance(value, dict):
            tables.setdefault(key, {}).update(value)
        else:
            top[key] = value
    lines = ["%s = %s" % (k, _toml_value(v)) for k, v in top.items()]
    for table, keys in tables.items():
        lines.append("")
        lines.append("[%s]" % table)
        lines.extend("%s = %s" % (k, _toml_value(v)) for k, v in keys.items())
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return TestConfig(path, data_dir, ports, tables)


# ---------------------------------------------------------------------------------------
# Waiting and processes


def wait_for(predicate, timeout, what, interval=0.05):
    """Polls predicate() until it returns something truthy, which is returned; raises
    ChatTestError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, ValueError, http.client.HTTPException) as e:
            last_error = e
        if time.monotonic() >= deadline:
            raise ChatTestError(
                "timed out after %.1fs waiting for %s%s"
                % (timeout, what, " (last error: %s)" % last_error if last_error else "")
            )
        time.sleep(interval)


def proc_start_time(pid):
    """The process's start time in clock ticks since boot (field 22 of /proc/pid/stat),
    which with the pid names one process even if the pid is reused; None if gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # exited, waiting to be reaped: not running
        return None
    return int(fields[19])


def process_alive(pid, start_time=None):
    """True if pid runs (and, when start_time is given, is still that same process)."""
    now = proc_start_time(pid)
    return now is not None and (start_time is None or now == start_time)


def http_get(host, port, path, timeout=2.0):
    """(status, body as str) of GET http://host:port/path."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace")
    finally:
        conn.close()


def rest(port, method, path, token=None, body=None, raw=None, headers=None, host="127.0.0.1"):
    """(status, parsed JSON or None, response headers) of one call to gatewayd's REST API,
    /api/v10<path>: `token` as "Bot <token>", `body` sent as JSON (or `raw` bytes)."""
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bot " + token
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            h["Content-Type"] = "application/json"
        conn.request(method, "/api/v10" + path, body=data, headers=h)
        resp = conn.getresponse()
        text = resp.read()
        return resp.status, (json.loads(text) if text else None), resp.headers
    finally:
        conn.close()


def metric(port, name, labels=None, host="127.0.0.1"):
    """A value from a daemon's /metrics: the series name{labels} when labels is given
    (e.g. 'reason="queue_bytes"'; 0.0 when absent), else the sum of all of name's series."""
    status, body = http_get(host, port, "/metrics")
    if status != 200:
        raise ChatTestError("/metrics on %d: %s" % (port, status))
    total = 0.0
    for line in body.splitlines():
        key, _, value = line.rpartition(" ")
        if labels is not None:
            if key == "%s{%s}" % (name, labels):
                return float(value)
        elif key == name or key.startswith(name + "{"):
            total += float(value)
    return total


def control_request(socket_path, command, timeout=5.0):
    """Sends one command line to chatd's control socket; returns the answer's lines."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(socket_path)
        s.sendall(command.encode() + b"\n")
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    finally:
        s.close()
    return b"".join(chunks).decode().splitlines()


# ---------------------------------------------------------------------------------------
# chatd


class Chatd:
    """One chatd process over a TestConfig, its log in <dir>/chatd.log."""

    def __init__(self, config, args=(), env=None, binary=None):
        self.config = config
        self.args = list(args)
        self.env = dict(os.environ)
        self.env.pop("NOTIFY_SOCKET", None)  # we are chatd's supervisor here, not systemd
        if env:
            self.env.update(env)
        self.binary = binary or program("chatd")
        self.log_path = os.path.join(os.path.dirname(config.path), "chatd.log")
        self.proc = None
        self.seen = {}  # pid -> (name, start time) of every child chatd reported

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        if exc[0] is not None:
            log("--- chatd log (tail) ---\n" + self.log_tail())
        self.cleanup()
        return False

    # -- life

    def start(self):
        self._log = open(self.log_path, "ab")
        cmd = [self.binary, "--config", self.config.path] + self.args
        log("starting: " + " ".join(cmd))
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            env=self.env, start_new_session=True,
        )
        return self

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _check_alive(self):
        if not self.running():
            raise ChatTestError(
                "chatd exited with status %s\n%s" % (self.proc.returncode, self.log_tail())
            )

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout):
        """chatd's exit status; raises ChatTestError if it is still running after timeout."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ChatTestError("chatd still running %.1fs after it was told to stop" % timeout)

    def stop(self, timeout=30.0, expect_status=0):
        """SIGTERM; asserts that chatd exits with expect_status within timeout and that no
        child it ever reported is left. Returns the exit status."""
        self.refresh_seen()
        self.signal(signal.SIGTERM)
        status = self.wait_exit(timeout)
        if expect_status is not None and status != expect_status:
            raise ChatTestError(
                "chatd exited %s, expected %s\n%s" % (status, expect_status, self.log_tail())
            )
        self.assert_no_children_left()
        return status

    def assert_no_children_left(self, timeout=5.0):
        """Every child chatd reported is gone (allowing `timeout` for init to reap)."""

        def left():
            return [
                "%s pid %d" % (name, pid)
                for pid, (name, start) in self.seen.items()
                if process_alive(pid, start)
            ]

        try:
            wait_for(lambda: not left(), timeout, "chatd's children to be gone")
        except ChatTestError:
            raise ChatTestError("left behind: " + ", ".join(left()))

    def cleanup(self):
        """Kills whatever is left: chatd, and the process group of every child seen."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.refresh_seen()
            except (OSError, ChatTestError):
                pass
            self.proc.kill()
            self.proc.wait()
        for pid, (_, start) in self.seen.items():
            if process_alive(pid, start):
                for kill in (os.killpg, os.kill):
                    try:
                        kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
        if getattr(self, "_log", None):
            self._log.close()

    def log_tail(self, lines=60):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- the control socket

    def status(self):
        """chatd's status: a list of dicts (name, pid, state, restarts, uptime_s)."""
        lines = control_request(self.config.control_socket, "status")
        children = [json.loads(line) for line in lines if line.strip()]
        for c in children:
            if c["pid"] and c["pid"] not in self.seen:
                start = proc_start_time(c["pid"])
                if start is not None:
                    self.seen[c["pid"]] = (c["name"], start)
        return children

    def refresh_seen(self):
        if self.running() and os.path.exists(self.config.control_socket):
            self.status()

    def child(self, name):
        for c in self.status():
            if c["name"] == name:
                return c
        raise ChatTestError("no child named %s in chatd's status" % name)

    def wait_until(self, predicate, timeout, what):
        """Polls status() until predicate(status list) holds and returns that status list;
        chatd exiting fails at once."""

        def check():
            self._check_alive()
            children = self.status()
            return children if predicate(children) else None

        return wait_for(check, timeout, what)

    def wait_running(self, timeout=60.0):
        """Waits until every child is running; returns the status."""
        def all_running(children):
            return children and all(c["state"] == "running" and c["pid"] > 0 for c in children)

        return self.wait_until(all_running, timeout, "all children running")

    # -- health and metrics on [chatd] listen

    def http(self, path, timeout=2.0):
        return http_get("127.0.0.1", self.config.ports["chatd"], path, timeout)

    def wait_ready_http(self, timeout=30.0):
        """Waits for /readyz to answer 200."""
        return wait_for(lambda: self.http("/readyz")[0] == 200, timeout, "chatd /readyz 200")


# ---------------------------------------------------------------------------------------
# chatctl, as scripts run it


class Chatctl:
    """Runs build/bin/chatctl with --config (so the admin token comes from data_dir)."""

    def __init__(self, config):
        self.config = config
        self.env = {k: v for k, v in os.environ.items() if k not in ("CHAT_URL", "CHAT_TOKEN")}

    def argv(self, args):
        return [program("chatctl"), "--config", self.config.path] + list(args)

    def run(self, *args, stdin=None, expect=0, timeout=120):
        p = subprocess.run(self.argv(args), input=stdin, capture_output=True, text=True,
                           env=self.env, timeout=timeout)
        if expect is not None and p.returncode != expect:
            raise ChatTestError("chatctl %s: exit %d, expected %d\nstderr: %s"
                                         % (" ".join(args), p.returncode, expect, p.stderr))
        return p

    def json_lines(self, *args, **kw):
        return [json.loads(l) for l in self.run(*args, **kw).stdout.splitlines() if l.strip()]

    def spawn(self, *args):
        return subprocess.Popen(self.argv(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=self.env)


class TailReader:
    """Collects a follower's NDJSON stdout on a thread."""

    def __init__(self, name, proc):
        self.name, self.proc = name, proc
        self.messages = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        for line in self.proc.stdout:
            if line.strip():
                m = json.loads(line)
                with self.lock:
                    self.messages.append(m)

    def snapshot(self):
        with self.lock:
            return list(self.messages)

    def stop(self):
        self.proc.terminate()
        rc = self.proc.wait(timeout=10)
        self.thread.join(timeout=10)
        err = self.proc.stderr.read()
        if rc != 0:
            raise ChatTestError("%s exited %d: %s" % (self.name, rc, err))
