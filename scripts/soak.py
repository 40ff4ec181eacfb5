#!/usr/bin/env python3
"""make soak: sustained enqueue + deliver against a flaky receiver, reported minute by minute.

Eight producers (pgbench, one `herald.enqueue()` per transaction, 10 endpoints) enqueue at a fixed rate,
by default 70% of the sustained maximum in docs/benchmarks.json (section 3b, `scripts/bench.py
--steady-only`), while one default worker (1 × 8 × 16) delivers to herald-receiver answering 5% of requests
500 and 1% after 800 ms. Every minute: deliveries created and finished, the backlog pending at the
minute's end, p99 enqueue → first request latency of the
deliveries created in that minute, dead tuples and table + index sizes of `deliveries` and `attempts`, the
worker's RSS, attempts per finished delivery; and, to tell Herald's instability from the machine's, the
producers' own mean enqueue time (pgbench's progress report, less the schedule's lag), the WAL's syncs and
their mean time (pg_stat_wal, with track_wal_io_timing on for the run), and a CPU canary: the CPU time a
fixed Python loop takes (the least of three), which rises when the virtual machine itself runs slower.
Everything on 127.0.0.1 (the bench's throwaway PostgreSQL); bounded by --minutes (default 10). Writes docs/soak.json and the soak table in docs/benchmarks.md.
Usage: scripts/soak.py [--minutes=N] [--rate=R] [--no-write]  (--no-write: print only, for trying a change;
HERALD_* variables reach the worker, e.g. HERALD_SPARE_SLOTS=0 for the worker without spare slots)
"""
import json
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as b  # noqa: E402

ROOT = b.ROOT
arg = lambda name, default: next((type(default)(a.split("=", 1)[1]) for a in sys.argv if a.startswith(f"--{name}=")), default)
MINUTES = arg("minutes", 10)


def default_rate():
    try:
        with open(os.path.join(ROOT, "docs", "benchmarks.json")) as f:
            return int(0.7 * json.load(f)["steady"]["max"]["rate"])
    except (OSError, KeyError, ValueError):
        return 1000


RATE = arg("rate", default_rate())


def tables():
    rows = b.psql("""SELECT relname || ' ' || n_dead_tup || ' ' || pg_total_relation_size(relid)
                     FROM pg_stat_user_tables WHERE schemaname = 'herald' AND relname IN ('deliveries', 'attempts')""")
    out = {}
    for row in rows.splitlines():
        name, dead, size = row.split()
        out[name] = {"dead": int(dead), "mib": round(int(size) / 2**20, 1)}
    return out


def wal():
    """WAL syncs so far, their total time in ms (track_wal_io_timing), and WAL bytes."""
    syncs, ms, size = b.psql("SELECT wal_sync || ' ' || wal_sync_time || ' ' || wal_bytes FROM pg_stat_wal").split()
    return int(syncs), float(ms), int(size)


def canary_ms():
    """CPU time of a fixed loop, the least of three: the same work costs more CPU time on a slower machine
    (its process time, not wall time, so waiting for a core does not count)."""
    best = None
    for _ in range(3):
        t = time.process_time()
        x = 0
        for i in range(1_000_000):
            x += i
        spent = 1000 * (time.process_time() - t)
        best = spent if best is None else min(best, spent)
    return round(best, 1)


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0


def main():
    b.sh(os.path.join(ROOT, "scripts", "dev-postgres.sh"), "start")
    # The WAL's sync times per minute (reset when the run ends).
    b.psql("ALTER SYSTEM SET track_wal_io_timing = on")
    b.psql("SELECT pg_reload_conf()")
    idle_canary = canary_ms()
    log = os.path.join(b.PG_DIR, "soak-receiver.jsonl")
    receiver, workers = b.steady_start(log=log, receiver_args=("--fail-rate", "0.05", "--slow-rate", "0.01", "--slow-delay", "800ms"))
    warm = int(b.psql("SELECT coalesce(max(id), 0) FROM herald.deliveries"))
    start = time.time()
    producers = subprocess.Popen(["pgbench", "-n", "-c", str(b.PRODUCERS), "-j", "2", "-R", str(RATE), "-T", str(MINUTES * 60 + 1),
                                  "-P", "60", "-f", b.producer_script(), b.URL],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=b.ENV)
    # pgbench's progress report, one line a minute (it runs a second past the last minute, so that minute's
    # line is printed): "progress: 60.0 s, 911.0 tps, lat 2.3 ms stddev 4.1, 0 failed, lag 0.2 ms".
    enqueue_ms = {}

    def read_progress():
        for line in producers.stderr:
            found = re.match(r"progress: ([0-9.]+) s, [0-9.]+ tps, lat ([0-9.]+) ms.*?(?:lag ([0-9.]+) ms)?$", line.strip())
            if found:
                # With -R, "lat" counts from the scheduled start; less the lag, it is the transaction's own time.
                own = float(found.group(2)) - float(found.group(3) or 0)
                enqueue_ms[round(float(found.group(1)) / 60)] = round(own, 2)
    threading.Thread(target=read_progress, daemon=True).start()
    minutes = []
    finished_before = 0
    wal_before = wal()
    try:
        for m in range(1, MINUTES + 1):
            # Sleep to the minute's end: the soak is a fixed-length run, not a wait for a condition.
            time.sleep(max(0, start + 60 * m - time.time()))
            finished = int(b.psql(f"SELECT count(*) FROM herald.deliveries WHERE id > {warm} AND state <> 'pending'"))
            # The backlog at the minute's end (through the pending index): whether the worker keeps up.
            pending = int(b.psql(f"SELECT count(*) FROM herald.deliveries WHERE id > {warm} AND state = 'pending'"))
            wal_now = wal()
            syncs = wal_now[0] - wal_before[0]
            row = {"minute": m, "finished_per_s": round((finished - finished_before) / 60, 1), "pending_at_end": pending,
                   "tables": tables(), "worker_rss_mib": rss_mib(workers[0][0].pid),
                   "wal_syncs_per_s": round(syncs / 60), "wal_sync_ms": round((wal_now[1] - wal_before[1]) / max(1, syncs), 3),
                   "wal_mib": round((wal_now[2] - wal_before[2]) / 2**20, 1), "canary_cpu_ms": canary_ms()}
            finished_before = finished
            wal_before = wal_now
            minutes.append(row)
            print(json.dumps(row), flush=True)
        producers.wait(timeout=120)
    finally:
        producers.kill()
    # Let the last minute's retries (backoff) finish, bounded, then read latencies and attempts per minute.
    deadline = time.time() + 60
    while time.time() < deadline and b.psql(f"SELECT count(*) FROM herald.deliveries WHERE id > {warm} AND state = 'pending'") != "0":
        time.sleep(1)
    b.stop(workers)
    receiver.terminate()
    b.psql("ALTER SYSTEM RESET track_wal_io_timing")
    b.psql("SELECT pg_reload_conf()")
    per_minute = b.psql(f"""
        SELECT (extract(epoch FROM d.created_at) - {start})::int / 60 + 1 AS minute,
               round((count(a.id)::numeric / nullif(count(DISTINCT d.id), 0)), 3) AS attempts_per_delivery,
               count(DISTINCT d.id) FILTER (WHERE d.state = 'delivered') AS delivered,
               count(DISTINCT d.id) AS created
        FROM herald.deliveries d LEFT JOIN herald.attempts a ON a.delivery_id = d.id
        WHERE d.id > {warm} GROUP BY 1 ORDER BY 1""")
    extra = {}
    for line in per_minute.splitlines():
        minute, apd, delivered, created = line.split("|")
        extra[int(minute)] = {"attempts_per_delivery": float(apd or 0), "delivered": int(delivered), "created": int(created)}
    lat = latencies_by_minute(log, warm, start)
    for row in minutes:
        row.update(extra.get(row["minute"], {}))
        row["p99_ms"] = lat.get(row["minute"])
        row["enqueue_ms"] = enqueue_ms.get(row["minute"])
    rates = [r["finished_per_s"] for r in minutes[1:]] or [0]
    # The producers' own spread over the same minutes (pgbench -R falls behind its schedule when the machine
    # is busy and catches up later): the worker can be no steadier than what it is given.
    made = [r.get("created", 0) / 60 for r in minutes[1:]] or [0]
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rate": RATE, "minutes": minutes, "idle_canary_cpu_ms": idle_canary,
              "throughput_spread_pct": spread(rates), "producers_spread_pct": spread(made),
              "rss_growth_mib": round(minutes[-1]["worker_rss_mib"] - minutes[1]["worker_rss_mib"], 1) if len(minutes) > 1 else 0}
    b.sh(os.path.join(ROOT, "scripts", "dev-postgres.sh"), "stop")
    if "--no-write" in sys.argv:
        print(json.dumps(result, indent=2))
        return
    with open(os.path.join(ROOT, "docs", "soak.json"), "w") as f:
        json.dump(result, f, indent=2)
    write_markdown(result)
    print(json.dumps(result, indent=2))


def spread(rates):
    """(max - min) / mean, in percent."""
    return round(100 * (max(rates) - min(rates)) / max(1, sum(rates) / len(rates)), 1)


def latencies_by_minute(log, warm, start):
    buckets = {}
    for ns, ms in b.arrivals_by_creation(log, warm):
        buckets.setdefault(int((ns / 1e9 - start) // 60) + 1, []).append(ms)
    out = {}
    for minute, lat in buckets.items():
        lat.sort()
        out[minute] = round(lat[min(len(lat) - 1, int(0.99 * len(lat)))], 1)
    return out


def write_markdown(r):
    rows = ["", f"Soak ({r['date']}, `make soak`: {len(r['minutes'])} minutes at {r['rate']:,}/s, 8 producers, one default "
            "worker, receiver answering 5% 500 and 1% after 800 ms). Throughput spread after the first minute: "
            f"**{r['throughput_spread_pct']}%**"
            + (f" (the producers' own over the same minutes: {r['producers_spread_pct']}%)" if "producers_spread_pct" in r else "")
            + f"; worker RSS growth from minute 2 to the end: **{r['rss_growth_mib']} MiB**."
            + (" The last three columns are the machine's: the producers' mean `enqueue()` time (pgbench's latency less its schedule lag), the WAL's "
               "syncs a second and their mean time, and the CPU time a fixed loop took (the least of three; "
               f"{r['idle_canary_cpu_ms']} ms on the idle machine before the run): more means a slower machine." if "idle_canary_cpu_ms" in r else ""), "",
            "| minute | created/s | finished/s | pending at the minute's end | p99 ms (created that minute) | attempts/delivery | deliveries dead / MiB | attempts dead / MiB | worker RSS MiB | enqueue ms | WAL syncs/s, ms each | canary CPU ms |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in r["minutes"]:
        t = m["tables"]
        made = f"{m['created'] / 60:,.0f}" if "created" in m else "–"
        rows.append(f"| {m['minute']} | {made} | {m['finished_per_s']:,.0f} | {m.get('pending_at_end', '–')} | {m.get('p99_ms')} | {m.get('attempts_per_delivery')} | "
                    f"{t.get('deliveries', {}).get('dead')} / {t.get('deliveries', {}).get('mib')} | "
                    f"{t.get('attempts', {}).get('dead')} / {t.get('attempts', {}).get('mib')} | {m['worker_rss_mib']} | "
                    f"{m.get('enqueue_ms', '–')} | {m.get('wal_syncs_per_s', '–')}, {m.get('wal_sync_ms', '–')} | {m.get('canary_cpu_ms', '–')} |")
    b.write_section("soak", "\n".join(rows) + "\n", title="Soak")


if __name__ == "__main__":
    main()
