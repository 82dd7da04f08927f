#!/usr/bin/env python3
"""Merges the scale run's per-generator latency dumps (bench/scale/run.sh): OUT/lat.<i>
holds "message latency_us" per delivery. Prints, per message, the sessions reached, p50,
p99 and the time to the LAST session (the issue's "reaches the last of them"), then the
median over the messages."""
import glob
import statistics
import sys

out, expected = sys.argv[1], int(sys.argv[2])
per = {}
for path in glob.glob(out + "/lat.*"):
    with open(path) as f:
        for line in f:
            k, us = line.split()
            per.setdefault(int(k), []).append(int(us))
sessions = 0
for path in glob.glob(out + "/gen.*.out"):
    for line in open(path):
        if '"scenario":"hold_end"' in line:
            import json
            r = json.loads(line.split("RESULT ", 1)[1])
            sessions += r["connected"] - r["dropped"]


def pct(v, p):
    return v[int(p * (len(v) - 1))] / 1000.0


rows = []
print("scale: message  reached/sessions   p50 ms   p99 ms   last ms")
for k in range(expected):
    v = sorted(per.get(k, []))
    if not v:
        print("scale: %7d  0/%d" % (k, sessions))
        continue
    rows.append((pct(v, 0.5), pct(v, 0.99), v[-1] / 1000.0, len(v)))
    print("scale: %7d  %d/%d %8.1f %8.1f %9.1f" % (k, len(v), sessions, *rows[-1][:3]))
if rows:
    med = [statistics.median(r[i] for r in rows) for i in range(3)]
    print("scale: median over %d messages: p50 %.1f ms, p99 %.1f ms, last session %.1f ms; "
          "every message reached every session: %s" % (
              len(rows), med[0], med[1], med[2],
              "yes" if all(r[3] >= sessions for r in rows) and len(rows) == expected else "NO"))
