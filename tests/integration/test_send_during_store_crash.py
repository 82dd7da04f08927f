"""kill -9 stored while `chatctl send` is sending: chatd restarts it, and every message
that chatctl reported as sent is in history afterwards.

chatctl send prints an id only for a message the server returned, which guildd does only
after stored confirmed the write; while stored is down its writes get 503 and chatctl
retries. So the ids printed are exactly the acknowledged messages, and each must be found.
"""
import json
import os
import signal
import subprocess
import sys
import threading

import chattest
from chattest import ChatTestError, wait_for

N = 400


def chatctl(cfg, *args, check=True, input=None, timeout=60):
    cmd = [chattest.program("chatctl"), "--config", cfg.path] + list(args)
    r = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise ChatTestError("%s exited %d: %s" % (" ".join(args), r.returncode, r.stderr))
    return r


def main():
    chattest.require_programs("chatd", "stored", "guildd", "gatewayd", "chatctl")
    with chattest.TestDir() as d:
        cfg = chattest.write_config(d, {"chatd": {"intensity": 50}})
        with chattest.Chatd(cfg) as chatd:
            chatd.wait_running()
            chatctl(cfg, "guild", "create", "ops")
            chatctl(cfg, "channel", "create", "ops", "alerts")

            sender = subprocess.Popen(
                [chattest.program("chatctl"), "--config", cfg.path, "send", "ops/#alerts"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            ids = []

            def read_ids():
                for line in sender.stdout:
                    line = line.strip()
                    if line:
                        ids.append(line)

            reader = threading.Thread(target=read_ids, daemon=True)
            reader.start()

            def feed():
                for i in range(N):
                    sender.stdin.write("crash-test message %d\n" % i)
                    sender.stdin.flush()
                sender.stdin.close()

            feeder = threading.Thread(target=feed, daemon=True)
            feeder.start()

            # Kill stored twice in the middle of the stream.
            kills = 0
            for at in (N // 4, N // 2):
                wait_for(lambda: len(ids) >= at, 60, "%d messages sent" % at)
                victim = chatd.child("stored")
                os.kill(victim["pid"], signal.SIGKILL)
                kills += 1
                wait_for(
                    lambda: (lambda c: c["state"] == "running" and c["pid"] not in (0, victim["pid"]))(
                        chatd.child("stored")
                    ),
                    30, "stored restarted by chatd",
                )
            rc = sender.wait(timeout=180)
            reader.join(timeout=10)
            err = sender.stderr.read()
            stored = chatd.child("stored")
            assert stored["restarts"] >= kills, stored
            chattest.log("send exited %d after %d ids; stored restarts=%d; stderr: %s"
                         % (rc, len(ids), stored["restarts"], err.strip()[-300:]))
            if rc == 0:
                assert len(ids) == N, "send exited 0 but printed %d of %d ids" % (len(ids), N)
            assert len(ids) >= N // 2, "too few messages acknowledged: %d" % len(ids)

            # Page through the whole history, newest first, with --before.
            seen = []
            before = None
            while True:
                args = ["--json", "history", "ops/#alerts", "--limit", "100"]
                if before:
                    args += ["--before", before]
                page = [json.loads(l) for l in chatctl(cfg, *args).stdout.splitlines() if l]
                if not page:
                    break
                seen.extend(m["id"] for m in page)
                before = page[-1]["id"]
            missing = set(ids) - set(seen)
            assert not missing, "acknowledged but missing from history: %s" % sorted(missing)[:10]
            assert seen == sorted(seen, key=int, reverse=True), "history is not newest first"
            chatd.stop()
    print("test_send_during_store_crash: 1 passed, 0 failed")


if __name__ == "__main__":
    try:
        main()
    except (AssertionError, ChatTestError) as e:
        print("FAIL:", e, file=sys.stderr)
        sys.exit(1)
