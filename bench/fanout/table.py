#!/usr/bin/env python3
"""Prints the side-by-side table of bench/run_comparison.sh from fanout_bench's RESULT lines.

Input: a file of JSON objects, one per line (the RESULT lines, each with "system" and,
for idle runs, "target"; for fan-out runs, "rate_msgs"). Each figure is the median over
the repetitions; the "x" columns are gatewayd's figure divided by the peer's, so below 1
is better for memory and latency and above 1 is better for deliveries/s.
An idle run over several server instances (one generator per instance, each its own
RESULT line) is first merged into one row with --merge: the connections, failures and RSS
figures summed over the instances (so bytes_per_conn is the sum of each instance's RSS
growth over its fresh baseline, divided by all connections), connect_s the slowest
generator's (they run in parallel), connect_rate all connections over that, and
"instances" how many there were.
Usage: table.py RESULTS.jsonl [--markdown] | table.py --progress < RESULT-lines
       table.py --merge TARGET GENERATOR-OUTPUT...   (prints one merged RESULT line)
"""
import json
import statistics
import sys

PEERS = ["nats", "mqtt", "xmpp"]
NAMES = {"gatewayd": "gatewayd", "nats": "nats-server", "mqtt": "mosquitto", "xmpp": "ejabberd"}


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("RESULT "):
                line = line[7:]
            if line.startswith("{"):
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    pass
    return rows


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, kind):
    if v is None:
        return "—"
    if kind == "bytes":
        return f"{v / 1024:.2f} KiB"
    if kind == "rate":
        return f"{v / 1000:.1f}K/s"
    if kind == "ms":
        return f"{v:.1f} ms"
    if kind == "pct":
        return f"{v:.1f}%"
    if kind == "us":
        return f"{v:.2f} µs"
    return f"{v:.0f}"


def merge(target, paths):
    """One idle RESULT for TARGET connections from the generators' outputs in PATHS."""
    parts = [r for p in paths for r in load(p) if r.get("scenario") == "idle"]
    if not parts:
        sys.exit("table.py --merge: no idle RESULT line in " + " ".join(paths))
    connected = sum(r["connected"] for r in parts)
    base = sum(r["rss_base_kb"] for r in parts)
    rss = sum(r["rss_kb"] for r in parts)
    growth = sum(max(0, r["rss_kb"] - r["rss_base_kb"]) for r in parts)
    connect_s = max(r["connect_s"] for r in parts)
    reasons = {}
    for r in parts:
        for k, v in r.get("reasons", {}).items():
            reasons[k] = reasons.get(k, 0) + v
    row = {
        "system": parts[0]["system"], "scenario": "idle", "target": target,
        "connected": connected, "failed": sum(r["failed"] for r in parts),
        "dropped": sum(r["dropped"] for r in parts), "connect_s": connect_s,
        "connect_rate": round(connected / max(connect_s, 1e-3)),
        "rss_base_kb": base, "rss_kb": rss,
        "bytes_per_conn": round(growth * 1024 / connected) if connected else 0,
        "reasons": reasons, "instances": len(paths),
        "per_instance": [{"connected": r["connected"], "rss_base_kb": r["rss_base_kb"],
                          "rss_kb": r["rss_kb"]} for r in parts],
    }
    # Fewer RESULT lines than generators means one of them never got to report.
    if len(parts) < len(paths):
        row["missing_instances"] = len(paths) - len(parts)
    print("RESULT " + json.dumps(row, separators=(",", ":")), flush=True)


def progress():
    """One line per RESULT object read from stdin, as the runs go."""
    for line in sys.stdin:
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if r.get("scenario") == "idle":
            over = f" over {r['instances']} instances" if r.get("instances", 1) > 1 else ""
            print(f"   idle {r['connected']:>7} conns{over}: {r['bytes_per_conn']:>8.0f} B/conn, "
                  f"{r['connect_rate']:.0f} conn/s, failed {r['failed']}", flush=True)
        else:
            print(f"   {r['rate_msgs']:>4} msg/s x {r['subscribers']}: {r['dps']:>9.0f} deliveries/s "
                  f"({r['delivered']}/{r['expected']}), p50 {r['p50_ms']:.1f} ms, "
                  f"p99 {r['p99_ms']:.1f} ms", flush=True)


def main():
    if "--progress" in sys.argv:
        return progress()
    if "--merge" in sys.argv:
        at = sys.argv.index("--merge")
        return merge(int(sys.argv[at + 1]), sys.argv[at + 2:])
    rows = load(sys.argv[1])
    md = "--markdown" in sys.argv
    systems = ["gatewayd"] + PEERS
    present = {r["system"] for r in rows}
    peers = [p for p in PEERS if p in present]

    lines = []  # (label, kind, better, {system: value}, counts)

    def add(label, kind, better, pick, select):
        vals, counts = {}, {}
        for s in systems:
            got = [pick(r) for r in rows if r["system"] == s and select(r)]
            vals[s] = median(got)
            counts[s] = len(got)
        lines.append((label, kind, better, vals, counts))

    def processes(t):  # " (K server processes per system)" when the run at t used more than one
        ks = sorted({r.get("instances", 1) for r in rows if r.get("scenario") == "idle" and r["target"] == t})
        return "" if ks == [1] else f" ({'/'.join(map(str, ks))} server processes per system)"

    targets = sorted({r["target"] for r in rows if r.get("scenario") == "idle"})
    for t in targets:
        sel = lambda r, t=t: r.get("scenario") == "idle" and r["target"] == t
        add(f"idle: server RSS per connection at {t:,}{processes(t)}", "bytes", "lower",
            lambda r, t=t: r["bytes_per_conn"] if r["connected"] >= 0.99 * t else None, sel)
    if targets:
        t = targets[-1]
        add(f"idle: connections set up per second (to {t:,}){processes(t)}", "n", "higher",
            lambda r: r["connect_rate"], lambda r, t=t: r.get("scenario") == "idle" and r["target"] == t)
    for rate in sorted({r["rate_msgs"] for r in rows if r.get("scenario") == "fanout"}):
        sel = lambda r, rate=rate: r.get("scenario") == "fanout" and r["rate_msgs"] == rate
        subs = median([r["subscribers"] for r in rows if sel(r)])
        offered = int(rate * subs) if subs else 0
        head = f"fan-out {rate} msg/s × {int(subs or 0):,} subs ({offered:,}/s offered)"
        add(f"{head}: deliveries/s", "rate", "higher", lambda r: r["dps"], sel)
        add(f"{head}: delivered", "pct", "higher",
            lambda r: 100.0 * r["delivered"] / r["expected"] if r["expected"] else None, sel)
        add(f"{head}: p50 latency", "ms", "lower", lambda r: r["p50_ms"] if r["p50_ms"] >= 0 else None, sel)
        add(f"{head}: p99 latency", "ms", "lower", lambda r: r["p99_ms"] if r["p99_ms"] >= 0 else None, sel)
        add(f"{head}: server CPU per delivery", "us", "lower",
            lambda r: 1e6 * r["server_cpu_s"] / r["delivered"] if r["delivered"] else None, sel)
        add(f"{head}: publish acknowledged p99 (gatewayd: REST 200, durable)", "ms", "lower",
            lambda r: r["ack_p99_ms"] if r.get("ack_p99_ms", -1) >= 0 else None, sel)

    header = ["scenario (median of runs)", "gatewayd"]
    for p in peers:
        header += [NAMES[p], "gw ÷ " + NAMES[p]]
    table = [header]
    for label, kind, better, vals, counts in lines:
        row = [label + f" [{better} is better]", fmt(vals["gatewayd"], kind)]
        for p in peers:
            row.append(fmt(vals[p], kind))
            g, v = vals["gatewayd"], vals[p]
            row.append(f"{g / v:.2f}" if g is not None and v else "—")
        table.append(row)

    if md:
        print("| " + " | ".join(table[0]) + " |")
        print("|" + "|".join(["---"] + ["---:"] * (len(table[0]) - 1)) + "|")
        for row in table[1:]:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
        for n, row in enumerate(table):
            print("  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)))
            if n == 0:
                print("  ".join("-" * w for w in widths))
    runs = {}
    for r in rows:
        runs.setdefault((r["system"], r.get("scenario")), 0)
        runs[(r["system"], r.get("scenario"))] += 1
    print("\nmeasurements per system/scenario: " +
          ", ".join(f"{NAMES.get(s, s)} {sc} {n}" for (s, sc), n in sorted(runs.items())))


if __name__ == "__main__":
    main()
