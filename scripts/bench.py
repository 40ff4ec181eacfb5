#!/usr/bin/env python3
"""make bench: Herald's throughput, latency and cost per delivery on this machine.

Everything runs on 127.0.0.1: a throwaway PostgreSQL (./.bench-pg, default settings except
max_connections=1100 and the pg_stat_statements-free defaults), herald-receiver, and real release-built
`herald worker` processes. Each scenario is bounded in time. Results go to docs/benchmarks.json and
docs/benchmarks.md (between its bench markers). Usage: scripts/bench.py [--quick | --render | --publish-only]
(quick: one run per configuration instead of 3; render: rewrite the Markdown from the JSON only;
publish-only / pooler-only / api-only / large-only / steady-only / slow-only / slots-only: section 6 (publish and fan-out) /
7 (through PgBouncer) / 8 (publish through `herald serve`, needs wrk) / 9 (large bodies, peak RSS) / 3b (steady state) /
4 (slow endpoints) / 4b (many slots), merged into the last full run's JSON; several flags run several;
coalescing-only: section 3b's A/B of --wakeup-coalescing 5ms / 10ms (after --steady-only, which drops it);
--api-seconds=N: section 8's windows, default 10).
"""
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# HERALD_BENCH_BIN: another build's binaries (e.g. .build/debug for a smoke run of the script itself).
BIN = os.environ.get("HERALD_BENCH_BIN") or os.path.join(ROOT, ".build", "release")
PG_DIR = os.path.join(ROOT, ".bench-pg")
PG_PORT = 54339
RECEIVER_PORT = 18099
URL = f"postgres://postgres@127.0.0.1:{PG_PORT}/postgres"
QUICK = "--quick" in sys.argv
RUNS = 1 if QUICK else 3
# `herald worker`'s default --spare-slots: the bench's workers run with it.
SPARE_SLOTS = 8
# Section 8's wrk and pgbench windows; --api-seconds=N shortens them for a smoke run.
API_SECONDS = next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--api-seconds=")), 10)
ENV = dict(os.environ, HERALD_PG_DIR=PG_DIR, HERALD_PG_PORT=str(PG_PORT))


def sh(*args, **kw):
    return subprocess.run(args, check=True, text=True, capture_output=True, env=ENV, **kw).stdout


def psql(sql):
    return sh("psql", "-q", "-At", "-v", "ON_ERROR_STOP=1", URL, "-c", sql).strip()


def reset_schema():
    psql("DROP SCHEMA IF EXISTS herald CASCADE")
    sh(os.path.join(BIN, "herald"), "migrate", "--database-url", URL, "--log-level", "error")
    psql("CHECKPOINT")


def fill(count, endpoints=10, path="/b", due=True, body="convert_to('{\"n\":' || g || '}', 'UTF8')"):
    """Queues `count` deliveries across `endpoints` endpoints: one enqueue() per endpoint creates it,
    the rest are inserted in bulk (same columns enqueue() writes) so filling does not dominate the run.
    `body`: SQL for each body, over the row number `g` and the endpoint `e`."""
    for e in range(endpoints):
        psql(f"SELECT herald.enqueue('http://127.0.0.1:{RECEIVER_PORT}{path}{e}', '\\x7b7d'::bytea)")
    per = max(0, count - endpoints)
    when = "now() - interval '1 second'" if due else "now() + interval '1 hour'"
    psql(f"""INSERT INTO herald.deliveries (endpoint_id, idempotency_key, body, breaker_key, next_attempt_at)
             SELECT e.id, 'msg_b' || e.id || '_' || g, {body}, 'endpoint:' || e.id, {when}
             FROM herald.endpoints e, generate_series(1, {per} / {endpoints} + 1) g
             WHERE e.url LIKE 'http://127.0.0.1:{RECEIVER_PORT}{path}%' LIMIT {per}""")
    psql("VACUUM ANALYZE herald.deliveries")
    # Every measurement starts from a clean checkpoint, not in the middle of flushing the fill.
    psql("CHECKPOINT")


def start_receiver(delay_ms=0, log=None, extra=()):
    args = [os.path.join(BIN, "herald-receiver"), "--port", str(RECEIVER_PORT), "--threads", "1", *extra]
    if delay_ms:
        args += ["--delay", f"{delay_ms}ms"]
    if log:
        args += ["--log", log]
    p = subprocess.Popen(args, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    return p


def start_workers(procs, concurrency, batch, extra=(), url=None):
    workers = []
    for i in range(procs):
        port = 19100 + i
        args = [os.path.join(BIN, "herald"), "worker", "--database-url", url or URL, "--concurrency", str(concurrency),
                "--batch-size", str(batch), "--allow-private-networks", "--log-level", "error",
                "--metrics-port", str(port), "--metrics-host", "127.0.0.1", *extra]
        workers.append((subprocess.Popen(args), port))
    return workers


def proc_stats(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1]) / 1024
    return cpu, rss


def metric(port, pattern):
    """One counter from a worker's /metrics (polling it costs the database nothing)."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except Exception:
        return 0
    m = re.search(pattern, text, re.M)
    return int(float(m.group(1))) if m else 0


def round_trips(port):
    return metric(port, r"^herald_db_round_trips_total (\S+)")


def delivered_by(workers):
    return sum(metric(port, r'^herald_deliveries_total\{outcome="delivered"\} (\S+)') for _, port in workers)


def stop(workers):
    for p, _ in workers:
        p.send_signal(signal.SIGTERM)
    for p, _ in workers:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


def machine_busy():
    """CPU seconds all processes spent (user + nice + system + irq + softirq), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:8]]
    busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6]
    return busy / os.sysconf("SC_CLK_TCK")


def delivered():
    return int(psql("SELECT count(*) FROM herald.deliveries WHERE state = 'delivered'"))


def row_versions():
    """Row versions written to Herald's tables so far (inserts + updates + deletes, from pg_stat_user_tables;
    the statistics are flushed about once a second, so read after a pause)."""
    return int(psql("SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables WHERE schemaname = 'herald'"))


def postgres_cpu():
    """CPU seconds of every PostgreSQL process (postmaster, backends, background workers) so far, the ones that
    have exited included: the postmaster reaps its children, so their time is its children's time (cutime,
    cstime). Until 2026-12-05 only the processes alive at the reading were counted, so the producers'
    backends (gone by the second reading) and autovacuum workers that came and went were missing: section
    3b's PostgreSQL column read 0.21-0.49 ms per delivery across runs of the same build."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() != "postgres":
                    continue
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
            if not _is_postgres(int(fields[1])):
                # The postmaster (its parent is not a postgres process): add its reaped children.
                total += int(fields[13]) + int(fields[14])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def _is_postgres(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip() == "postgres"
    except (FileNotFoundError, ProcessLookupError):
        return False


def wal_lsn():
    return psql("SELECT pg_current_wal_lsn()")


def drain(count, procs, concurrency, batch, timeout=60, delay_ms=0, endpoints=10, filler=None, worker_url=None, extra=()):
    """Fills `count` deliveries to `endpoints` endpoints, starts workers, and measures until all are
    delivered (or `timeout`). Every endpoint starts as a new key: its window opens from the breaker
    threshold (docs/flow_control.md), so the figure includes the ramp. `filler`: another way to queue
    them (fill_by_publish: messages fanned out by publish())."""
    reset_schema()
    receiver = start_receiver(delay_ms)
    (filler or fill)(count, endpoints=endpoints)
    lsn0 = wal_lsn()
    time.sleep(1.1)
    versions0, pg_cpu0 = row_versions(), postgres_cpu()
    busy0, receiver0 = machine_busy(), proc_stats(receiver.pid)[0]
    workers = start_workers(procs, concurrency, batch, extra=extra, url=worker_url)
    start = time.monotonic()
    done = 0
    while time.monotonic() - start < timeout:
        if delivered_by(workers) >= count:
            break
        time.sleep(0.05)
    elapsed = time.monotonic() - start
    busy = machine_busy() - busy0
    receiver_cpu = proc_stats(receiver.pid)[0] - receiver0
    done = delivered()
    trips = sum(round_trips(port) for _, port in workers)
    stats = [proc_stats(p.pid) for p, _ in workers]
    wal = int(psql(f"SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '{lsn0}')"))
    pg_cpu = postgres_cpu() - pg_cpu0
    stop(workers)
    receiver.terminate()
    time.sleep(1.1)
    versions = row_versions() - versions0
    return {
        "deliveries": done, "seconds": round(elapsed, 2), "rate": round(done / elapsed, 1),
        "cpu_ms_per_delivery": round(1000 * sum(s[0] for s in stats) / max(done, 1), 3),
        "receiver_cpu_ms_per_delivery": round(1000 * receiver_cpu / max(done, 1), 3),
        # Everything else the machine did meanwhile: PostgreSQL, mostly (and this script's polling).
        "machine_cpu_ms_per_delivery": round(1000 * busy / max(done, 1), 3),
        "round_trips_per_delivery": round(trips / max(done, 1), 3),
        "wal_bytes_per_delivery": round(wal / max(done, 1), 1),
        "postgres_cpu_ms_per_delivery": round(1000 * pg_cpu / max(done, 1), 3),
        "row_versions_per_delivery": round(versions / max(done, 1), 2),
        "peak_rss_mib": round(max(s[1] for s in stats), 1),
    }


def median_of(runs):
    keys = runs[0].keys()
    return {k: statistics.median(r[k] for r in runs) for k in keys}


# processes × slots × batch. 1 × 8 × 1 is one delivery per transaction; 1 × 8 × 16 the defaults.
DRAIN_LAYOUTS = [(1, 8, 1), (1, 8, 16), (1, 4, 64), (2, 2, 64), (2, 4, 32), (4, 2, 32)]
SCALE_LAYOUT = (2, 2, 64)

PGBENCH_SCRIPT = """\\set x 1
BEGIN;
SELECT id AS did FROM herald.deliveries WHERE state = 'pending' AND next_attempt_at <= now()
  ORDER BY next_attempt_at LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED \\gset
INSERT INTO herald.attempts (delivery_id, attempt, worker_id, started_at, outcome) VALUES (:did, 1, 'pgbench', now(), 'unknown');
UPDATE herald.attempts SET outcome = 'delivered', status_code = 200, duration_ms = 0 WHERE delivery_id = :did;
UPDATE herald.deliveries SET state = 'delivered', attempts = 1, last_status = 200, finished_at = clock_timestamp(), updated_at = now() WHERE id = :did;
END;
"""


def ceiling(clients, seconds=8):
    """pgbench running Herald's lease, journal and completion SQL for one delivery per transaction."""
    reset_schema()
    fill(200000)
    script = os.path.join(PG_DIR, "lease_complete.sql")
    with open(script, "w") as f:
        f.write(PGBENCH_SCRIPT)
    out = sh("pgbench", "-n", "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds), "-f", script, URL)
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    return round(tps, 1)


ENQUEUE_CLIENTS = 4


def enqueue_script():
    script = os.path.join(PG_DIR, "enqueue.sql")
    with open(script, "w") as f:
        f.write(f"SELECT herald.enqueue('http://127.0.0.1:{RECEIVER_PORT}/lat', '\\x7b7d'::bytea);\n")
    return script


def end_to_end_max(seconds=8):
    """The most the machine sustains while it also enqueues: pgbench calling herald.enqueue() flat out
    (ENQUEUE_CLIENTS clients) with the default worker (1 x 8 x 16) delivering; the rate both keep up."""
    reset_schema()
    receiver = start_receiver()
    psql(f"SELECT herald.enqueue('http://127.0.0.1:{RECEIVER_PORT}/lat', '\\x7b7d'::bytea)")
    workers = start_workers(1, 8, 16)
    time.sleep(1.5)
    d0 = delivered_by(workers)
    out = sh("pgbench", "-n", "-c", str(ENQUEUE_CLIENTS), "-j", "2", "-T", str(seconds), "-f", enqueue_script(), URL)
    rate = (delivered_by(workers) - d0) / seconds
    stop(workers)
    receiver.terminate()
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    return {"enqueued_per_s": round(tps, 1), "delivered_per_s": round(rate, 1), "rate": round(min(tps, rate), 1)}


def latency(rate, seconds=8):
    """Enqueue at `rate`/s with pgbench -R; enqueue commit -> request at the receiver."""
    reset_schema()
    log = os.path.join(PG_DIR, "receiver.jsonl")
    receiver = start_receiver(log=log)
    psql(f"SELECT herald.enqueue('http://127.0.0.1:{RECEIVER_PORT}/lat', '\\x7b7d'::bytea)")
    workers = start_workers(1, 8, 16)
    time.sleep(1.5)
    warm = int(psql("SELECT coalesce(max(id), 0) FROM herald.deliveries"))
    out = sh("pgbench", "-n", "-c", str(ENQUEUE_CLIENTS), "-j", "2", "-R", str(rate), "-T", str(seconds), "-f", enqueue_script(), URL)
    achieved = float(re.search(r"tps = ([\d.]+)", out).group(1))
    time.sleep(2)
    stop(workers)
    receiver.terminate()
    lat = arrival_latencies(log, after_id=warm)
    q = lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))], 2)
    return {"rate": rate, "achieved_rate": round(achieved, 1), "samples": len(lat), "p50_ms": q(0.5), "p95_ms": q(0.95),
            "p99_ms": q(0.99)}


# Section 3b: steady state. Producers as a real service runs them: one enqueue() per transaction, eight
# connections, spread over ten endpoints; the default worker (1 × 8 × 16) delivers meanwhile.
PRODUCERS = 8
STEADY_ENDPOINTS = 10


def producer_script():
    script = os.path.join(PG_DIR, "produce.sql")
    with open(script, "w") as f:
        f.write(f"\\set e random(0, {STEADY_ENDPOINTS - 1})\n")
        f.write(f"SELECT herald.enqueue('http://127.0.0.1:{RECEIVER_PORT}/s' || :e, '\\x7b7d'::bytea);\n")
    return script


def steady_endpoints():
    """A fresh schema with the producers' endpoints already created (one enqueue() each)."""
    reset_schema()
    for e in range(STEADY_ENDPOINTS):
        psql(f"SELECT herald.enqueue('http://127.0.0.1:{RECEIVER_PORT}/s{e}', '\\x7b7d'::bytea)")


def steady_start(log=None, receiver_args=()):
    steady_endpoints()
    receiver = start_receiver(log=log, extra=receiver_args)
    workers = start_workers(1, 8, 16)
    time.sleep(1.5)
    return receiver, workers


def steady_max(seconds=10):
    """Producers flat out (PRODUCERS connections) while the default worker delivers: the rate both keep up
    (the smaller of enqueued/s and delivered/s over the window) and the backlog left at its end."""
    receiver, workers = steady_start()
    d0, lsn0, pg_cpu0, busy0 = delivered_by(workers), wal_lsn(), postgres_cpu(), machine_busy()
    out = sh("pgbench", "-n", "-c", str(PRODUCERS), "-j", "2", "-T", str(seconds), "-f", producer_script(), URL)
    done = delivered_by(workers) - d0
    pg_cpu, busy = postgres_cpu() - pg_cpu0, machine_busy() - busy0
    wal = int(psql(f"SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '{lsn0}')"))
    rate = done / seconds
    backlog = int(psql("SELECT count(*) FROM herald.deliveries WHERE state = 'pending'"))
    stop(workers)
    receiver.terminate()
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    # Per delivery, enqueue included (pgbench's own CPU is in the machine's figure).
    return {"enqueued_per_s": round(tps, 1), "delivered_per_s": round(rate, 1), "rate": round(min(tps, rate), 1),
            "backlog_at_end": backlog, "postgres_cpu_ms_per_delivery": round(1000 * pg_cpu / max(done, 1), 3),
            "machine_cpu_ms_per_delivery": round(1000 * busy / max(done, 1), 3),
            "wal_bytes_per_delivery": round(wal / max(done, 1), 1)}


def steady_latency(rate, seconds=10):
    """Producers at `rate`/s in all (pgbench -R over PRODUCERS connections): enqueue commit -> first byte of
    the request at the receiver, and the delivered rate over the window."""
    log = os.path.join(PG_DIR, "receiver.jsonl")
    receiver, workers = steady_start(log=log)
    warm = int(psql("SELECT coalesce(max(id), 0) FROM herald.deliveries"))
    busy0, trips0, d0 = machine_busy(), sum(round_trips(p) for _, p in workers), delivered_by(workers)
    out = sh("pgbench", "-n", "-c", str(PRODUCERS), "-j", "2", "-R", str(rate), "-T", str(seconds), "-f", producer_script(), URL)
    achieved = float(re.search(r"tps = ([\d.]+)", out).group(1))
    # The window's cost per delivery: the machine's CPU (producers, PostgreSQL, worker, receiver) and the
    # worker's round trips (each lease is one: fewer leases per delivery show here).
    busy, trips, done = machine_busy() - busy0, sum(round_trips(p) for _, p in workers) - trips0, max(1, delivered_by(workers) - d0)
    # Everything enqueued is delivered before the latencies are read (bounded: 10 s more at most).
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and psql("SELECT count(*) FROM herald.deliveries WHERE state = 'pending'") != "0":
        time.sleep(0.1)
    stop(workers)
    receiver.terminate()
    lat = arrival_latencies(log, after_id=warm)
    q = lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))], 2)
    return {"rate": rate, "achieved_rate": round(achieved, 1), "samples": len(lat), "p50_ms": q(0.5), "p95_ms": q(0.95),
            "p99_ms": q(0.99), "max_ms": round(lat[-1], 2), "machine_cpu_ms_per_delivery": round(1000 * busy / done, 3),
            "round_trips_per_delivery": round(trips / done, 3)}


def steady_enqueue_parts(seconds=10):
    """The producers alone (no worker), PRODUCERS connections flat out, in three steps of what enqueue()
    does: a commit of the smallest write (one row, no index: PostgreSQL's and pgbench's floor per
    transaction), the row enqueue() writes inserted bare (its indexes and wake-up trigger), and enqueue()
    itself (its checks and the endpoint lookup on top). enqueue()'s own figures are the ceiling of enqueue +
    deliver on this machine. Per step: transactions/s and the machine's CPU for each."""
    steady_endpoints()
    psql("DROP TABLE IF EXISTS public.herald_bench_floor; CREATE TABLE public.herald_bench_floor (x integer)")
    scripts = {"commit": "INSERT INTO public.herald_bench_floor VALUES (1);\n",
               "insert": f"\\set e random(1, {STEADY_ENDPOINTS})\n"
                         "INSERT INTO herald.deliveries (endpoint_id, event_type, idempotency_key, body, content_type, headers, "
                         "breaker_key, next_attempt_at) VALUES (:e, '', herald.new_delivery_key(), '\\x7b7d'::bytea, "
                         "'application/json', '{}', 'endpoint:' || :e, now());\n"}
    parts = {}
    for name, text in scripts.items():
        path = os.path.join(PG_DIR, f"part-{name}.sql")
        with open(path, "w") as f:
            f.write(text)
        parts[name] = path
    parts["enqueue"] = producer_script()
    out = {}
    for name, path in parts.items():
        busy0 = machine_busy()
        run = sh("pgbench", "-n", "-c", str(PRODUCERS), "-j", "2", "-T", str(seconds), "-f", path, URL)
        tps = float(re.search(r"tps = ([\d.]+)", run).group(1))
        out[f"{name}_per_s"] = round(tps, 1)
        out[f"{name}_cpu_ms"] = round(1000 * (machine_busy() - busy0) / (tps * seconds), 3)
    psql("DROP TABLE public.herald_bench_floor")
    return out


def coalescing_ab(values=("5ms", "10ms"), pairs=4):
    """Section 3b's A/B of --wakeup-coalescing: steady_max with each value in turn, `pairs` times (interleaved,
    since this machine's speed drifts over minutes); the default worker otherwise."""
    runs = {v: [] for v in values}
    saved = os.environ.get("HERALD_WAKEUP_COALESCING")
    try:
        for _ in range(pairs):
            for v in values:
                os.environ["HERALD_WAKEUP_COALESCING"] = v
                runs[v].append(steady_max())
                print("steady coalescing", v, runs[v][-1], flush=True)
    finally:
        if saved is None:
            os.environ.pop("HERALD_WAKEUP_COALESCING", None)
        else:
            os.environ["HERALD_WAKEUP_COALESCING"] = saved
    ahead = sum(1 for i in range(pairs) if runs[values[1]][i]["rate"] > runs[values[0]][i]["rate"])
    return {"pairs": pairs, "second_ahead_in": ahead,
            "rows": [{"coalescing": v, "rate": statistics.median(r["rate"] for r in runs[v]), "rates": [r["rate"] for r in runs[v]],
                      "machine_cpu_ms_per_delivery": statistics.median(r["machine_cpu_ms_per_delivery"] for r in runs[v])}
                     for v in values]}


def arrivals_by_creation(log, after_id=0):
    """Per delivery with an id above `after_id` (the warm-up rows, queued before the workers started, are
    not latencies): (created_at in ns, first request's arrival at the receiver minus created_at in ms)."""
    arrivals = {}
    with open(log) as f:
        for line in f:
            e = json.loads(line)
            if e["event"] == "start" and e["key"] not in arrivals:
                arrivals[e["key"]] = e["ns"]
    created = psql("SELECT idempotency_key || ' ' || (extract(epoch FROM created_at) * 1e9)::bigint FROM herald.deliveries "
                   f"WHERE id > {after_id}")
    out = []
    for row in created.splitlines():
        key, ns = row.split()
        if key in arrivals:
            out.append((int(ns), (arrivals[key] - int(ns)) / 1e6))
    return out


def arrival_latencies(log, after_id=0):
    """The latencies of arrivals_by_creation, sorted (ms)."""
    return sorted(ms for _, ms in arrivals_by_creation(log, after_id))


def steady_scenarios():
    """The sustained maximum (median of RUNS), latency at 25/50/75% of it, and at a low rate (wake-up)."""
    runs = [steady_max() for _ in range(RUNS)]
    best = median_of(runs)
    print("steady max", best, runs, flush=True)
    # The runs of the three loads are interleaved (25/50/75%, then again): this machine's speed drifts by
    # up to half over minutes, and three runs of one load in a row would give that load one phase.
    shares = (0.25, 0.5, 0.75)
    by_share = {share: [] for share in shares}
    for _ in range(RUNS):
        for share in shares:
            run = steady_latency(int(best["rate"] * share))
            by_share[share].append(run)
            print("steady latency run", share, run, flush=True)
    points = []
    for share in shares:
        row = dict(median_of(by_share[share]), share=share, p99_runs=[r["p99_ms"] for r in by_share[share]])
        points.append(row)
        print("steady latency", row, flush=True)
    low = median_of([steady_latency(20) for _ in range(RUNS)])
    print("steady low", low, flush=True)
    parts = median_of([steady_enqueue_parts() for _ in range(RUNS)])
    print("steady enqueue parts", parts, flush=True)
    # The producers alone are the parts' last step: one measurement, one figure in the report.
    alone = {"enqueued_per_s": parts["enqueue_per_s"], "machine_cpu_ms_per_enqueue": parts["enqueue_cpu_ms"]}
    return {"max": best, "max_runs": runs, "points": points, "low": low, "enqueue_only": alone, "enqueue_parts": parts}


def slow(in_flight, procs, concurrency, batch, seconds=10):
    reset_schema()
    receiver = start_receiver(delay_ms=200)
    # Enough for the whole window even when every spare slot sends too (a slow round hands its permit to a
    # spare slot for the ring of a full lease: docs/flow_control.md), so the queue never runs dry mid-run.
    most = procs * (concurrency + SPARE_SLOTS) * batch
    fill(most * 5 * (seconds + 3) + 1000)
    workers = start_workers(procs, concurrency, batch)
    time.sleep(2)
    d0, t0 = delivered(), time.monotonic()
    connections, threads = [], []
    while time.monotonic() - t0 < seconds:
        connections.append(int(psql("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'herald-%'")))
        threads.append(max(thread_count(p.pid) for p, _ in workers))
        time.sleep(0.5)
    rate = (delivered() - d0) / (time.monotonic() - t0)
    stats = [proc_stats(p.pid) for p, _ in workers]
    stop(workers)
    receiver.terminate()
    # Every request takes at least 200 ms, so by Little's law rate × 0.2 s were in flight on average.
    return {"in_flight": in_flight, "rate": round(rate, 1), "in_flight_measured": round(rate * 0.2),
            "connections": max(connections), "peak_rss_mib": round(max(s[1] for s in stats), 1), "threads": max(threads)}


def slow_scenarios():
    """Section 4: drains against the 200 ms receiver, medians of RUNS, three layouts."""
    rows = []
    for in_flight, procs, conc, batch in [(64, 1, 4, 16), (256, 1, 16, 16), (1024, 2, 16, 32)]:
        row = dict(median_of([slow(in_flight, procs, conc, batch) for _ in range(RUNS)]), processes=procs, concurrency=conc, batch=batch)
        rows.append(row)
        print("slow", row, flush=True)
    return rows


def thread_count(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Threads:"))


# Section 4b: many slots of batch 1 against the 200 ms endpoint: every slot waits on its lease while its one
# send is out. Ideal: slots × 5/s.
MANY_SLOTS = (64, 128, 256)


def many_slots_scenarios():
    rows = []
    for slots in MANY_SLOTS:
        row = dict(median_of([slow(slots, 1, slots, 1) for _ in range(RUNS)]), processes=1, concurrency=slots, batch=1, ideal=slots * 5)
        rows.append(row)
        print("many slots", row, flush=True)
    return rows


def render_many_slots(rows):
    out = ["", "### 4b. Many slots (one worker, batch 1, receiver answers after 200 ms)", "",
           "Each slot holds its lease's transaction while its one send is out; the ideal is slots × 5/s. "
           "`scripts/bench.py --slots-only`, median of 3.", "",
           "| slots | deliveries/s | ideal | share of ideal | worker threads (peak) | PostgreSQL connections in use |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['concurrency']:,} | {r['rate']:,.0f} | {r['ideal']:,} | {100 * r['rate'] / r['ideal']:.0f}% | "
                   f"{r.get('threads', 0):.0f} | {r['connections']:.0f} |")
    out += ["", "Where it stops: not threads (a send holds none: every lease is watched from one `poll` thread; the "
            "threads counted are mostly Dispatch's idle workers) but the rounds' cost on the database, whose CPU the "
            "2 cores run out of: each round of one delivery is a lease, a journal write and a commit. Until 2026-12-05 "
            "two costs grew with the slots, both through the lock manager (at 256 slots an average of 14.5 connections "
            "waited on `LWLock:LockManager`): every lease stepped over the rows every other slot held locked at the head "
            "of the due index (SKIP LOCKED tries each one's lock), and the lease's functions planned their statements "
            "on every call (planning takes a lock on every index of every table, past the 16 a session takes without "
            "the lock manager). Migration 0031 passes the rows the worker's own slots hold to the lease, which passes "
            "over them without trying their locks (`LeasedRows`); 0032 has the lease's functions plan once per "
            "session, and the completion looks its rows up by key (it read the whole table at a few tens of "
            "thousands of deliveries). What remains is mostly CPU: the "
            "round's fixed cost on the database, and relation locks past the 16 a session takes without the lock "
            "manager (a round touches `deliveries` and its 8 indexes, `attempts`, `endpoints`, `circuit_breakers`, "
            "`messages`). Before "
            "the attempt journal's group commit (2026-12-04, one run each) the same runs gave 226, 241 and 42/s: every "
            "round queued on the journal's one connection. So `--concurrency` is capped at 256; for more sends in "
            "flight, raise `--batch-size` (section 4: 1,024 in flight on 38 connections) or run more processes."]
    return out


def scale(rows, behind_open_breaker=0, seconds=8):
    """Drain rate of a healthy endpoint with `rows` other pending rows (not due) or due rows behind an open breaker."""
    reset_schema()
    receiver = start_receiver()
    fill(80000, endpoints=4, path="/h")
    if rows:
        fill(rows, endpoints=1, path="/idle", due=False)
    if behind_open_breaker:
        fill(behind_open_breaker, endpoints=1, path="/down")
        psql("SELECT * FROM herald.breaker_record((SELECT 'endpoint:' || id FROM herald.endpoints WHERE url LIKE '%/down0'), "
             "0, 5, 5, false, false, 5, 3600000, 3600000, NULL, 'bench', true, NULL, 128)")
        psql("VACUUM ANALYZE herald.deliveries")
        psql("CHECKPOINT")
    workers = start_workers(*SCALE_LAYOUT)
    time.sleep(1.5)
    d0, t0 = delivered(), time.monotonic()
    time.sleep(seconds)
    rate = (delivered() - d0) / (time.monotonic() - t0)
    stop(workers)
    receiver.terminate()
    return round(rate, 1)


def add_subscribers(count, app="bench", path="/p"):
    """`count` endpoints of application `app`, all subscribed to every type, one receiver path each."""
    psql(f"""INSERT INTO herald.applications (id, name) VALUES ('{app}', '{app}') ON CONFLICT DO NOTHING;
             INSERT INTO herald.endpoints (application_id, url, secret)
             SELECT '{app}', 'http://127.0.0.1:{RECEIVER_PORT}{path}' || g, herald.new_webhook_secret() FROM generate_series(1, {count}) g""")


def fill_by_publish(count, endpoints=10, path="/p"):
    """Queues `count` deliveries as count / endpoints messages, each fanned out by publish() to `endpoints`
    subscribed endpoints: the deliveries read the message's payload instead of a body of their own."""
    add_subscribers(endpoints, path=path)
    psql(f"SELECT herald.publish('bench', 'order.created', convert_to('{{\"n\":' || g || '}}', 'UTF8')) "
         f"FROM generate_series(1, {count // endpoints}) g")
    psql("VACUUM ANALYZE herald.deliveries")
    psql("VACUUM ANALYZE herald.messages")
    psql("CHECKPOINT")


def publish_cost(subscribers, seconds=5):
    """One publish() per transaction to an application with `subscribers` endpoints, one pgbench client:
    statement latency, rows written and WAL per delivery created. No workers run (the statement alone)."""
    reset_schema()
    add_subscribers(subscribers)
    psql("CHECKPOINT")
    script = os.path.join(PG_DIR, "publish.sql")
    with open(script, "w") as f:
        f.write("SELECT herald.publish('bench', 'order.created', '\\x7b226e223a317d'::bytea);\n")
    lsn0 = wal_lsn()
    out = sh("pgbench", "-n", "-c", "1", "-j", "1", "-T", str(seconds), "-f", script, URL)
    wal = int(psql(f"SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '{lsn0}')"))
    messages = int(psql("SELECT count(*) FROM herald.messages"))
    created = int(psql("SELECT count(*) FROM herald.deliveries"))
    latency_ms = float(re.search(r"latency average = ([\d.]+) ms", out).group(1))
    return {"subscribers": subscribers, "publishes_per_s": round(messages / seconds, 1), "latency_ms": round(latency_ms, 3),
            "deliveries_per_publish": round(created / max(messages, 1), 1),
            "wal_bytes_per_delivery": round(wal / max(created, 1), 1), "wal_bytes_per_publish": round(wal / max(messages, 1), 1)}


def publish_scenarios():
    """Section 6: publish() cost by fan-out width, and the drain of fanned-out vs enqueued deliveries."""
    out = {"cost": []}
    for n in (1, 10, 1000):
        row = median_of([publish_cost(n) for _ in range(RUNS)])
        out["cost"].append(row)
        print("publish", row, flush=True)
    out["drain_enqueued"] = median_of([drain(50000, 1, 8, 16) for _ in range(RUNS)])
    print("drain of enqueued deliveries", out["drain_enqueued"], flush=True)
    out["drain_fanned_out"] = median_of([drain(50000, 1, 8, 16, filler=fill_by_publish) for _ in range(RUNS)])
    print("drain of fanned-out deliveries", out["drain_fanned_out"], flush=True)
    return out


def render_steady(st, drain=(), cores=os.cpu_count()):
    m = st["max"]
    out = ["", "### 3b. Steady state: eight producers, one `enqueue()` per transaction", "",
           f"`pgbench -c {PRODUCERS}` calling `herald.enqueue()` once per transaction, spread over {STEADY_ENDPOINTS} endpoints, "
           "while one default worker (1 × 8 × 16) delivers; the machine's 2 cores run PostgreSQL, the producers, the "
           "worker and the receiver. " + (f"Measured {st['date']}. " if "date" in st else ""),
           f"Flat out, enqueue and delivery together sustain **{m['rate']:,.0f}/s** (median of "
           f"{len(st['max_runs'])}: enqueued {m['enqueued_per_s']:,.0f}/s, delivered {m['delivered_per_s']:,.0f}/s, "
           f"{m['backlog_at_end']:,.0f} left pending at the end of the window; per delivery, its enqueue included: "
           f"PostgreSQL CPU {m.get('postgres_cpu_ms_per_delivery', float('nan')):.3f} ms, whole machine "
           f"{m.get('machine_cpu_ms_per_delivery', float('nan')):.3f} ms, WAL {m.get('wal_bytes_per_delivery', float('nan')):,.0f} bytes; "
           "PostgreSQL's CPU counts the backends that exited within the window, the producers' included, since "
           "2026-12-05: before, it missed them and read 0.21-0.65 ms across runs of one build). "
           "Latency from the producer's commit to the "
           "first byte of the request at the receiver (each figure the median of the runs, the three loads' runs "
           "interleaved; the p99 of each run in brackets):", "",
           "| load | rate asked / achieved | samples | p50 ms | p95 ms | p99 ms | max ms | machine CPU ms/delivery | worker round trips/delivery |",
           "|---|---|---|---|---|---|---|---|---|"]
    cost = lambda r: (f"{r['machine_cpu_ms_per_delivery']:.3f} | {r['round_trips_per_delivery']:.3f}"
                      if "round_trips_per_delivery" in r else "| ")
    for r in st["points"]:
        runs = f" ({', '.join(str(x) for x in r['p99_runs'])})" if "p99_runs" in r else ""
        out.append(f"| {100 * r['share']:.0f}% | {r['rate']:,.0f} / {r['achieved_rate']:,.0f} | {r['samples']:,.0f} | {r['p50_ms']} | "
                   f"{r['p95_ms']} | {r['p99_ms']}{runs} | {r['max_ms']} | {cost(r)} |")
    low = st["low"]
    out.append(f"| low (wake-up) | {low['rate']:,.0f} / {low['achieved_rate']:,.0f} | {low['samples']:,.0f} | {low['p50_ms']} | "
               f"{low['p95_ms']} | {low['p99_ms']} | {low['max_ms']} | {cost(low)} |")
    if "enqueue_only" in st:
        a = st["enqueue_only"]
        out += ["", f"The producers alone, with no worker running, commit **{a['enqueued_per_s']:,.0f} `enqueue()`/s** "
                f"(median of {RUNS if 'max_runs' not in st else len(st['max_runs'])}), {a['machine_cpu_ms_per_enqueue']:.3f} ms of the machine's CPU each."]
        defaults = next((r for r in drain if (r["processes"], r["concurrency"], r["batch"]) == (1, 8, 16)), None)
        if defaults:
            both = a["machine_cpu_ms_per_enqueue"] + defaults["machine_cpu_ms_per_delivery"]
            out[-1] += (f" Add the cheapest delivery the default worker makes (a drain of full batches, section 1: "
                        f"{defaults['machine_cpu_ms_per_delivery']:.3f} ms) and the machine's {cores} cores allow at most about "
                        f"**{1000 * cores / both:,.0f} enqueued and delivered per second**, whatever the worker does: the "
                        "ceiling the sustained figure above is measured against.")
    if "enqueue_parts" in st:
        e = st["enqueue_parts"]
        out += ["", f"Where a producer's transaction goes (`steady_enqueue_parts`, {PRODUCERS} connections flat out, no worker, "
                f"median of {RUNS}; machine CPU per transaction): the smallest write PostgreSQL commits (one row into a "
                f"table without indexes) {e['commit_cpu_ms']:.3f} ms ({e['commit_per_s']:,.0f}/s); the row `enqueue()` "
                f"writes, inserted bare (its indexes and the wake-up trigger) "
                f"{e['insert_cpu_ms']:.3f} ms ({e['insert_per_s']:,.0f}/s); `enqueue()` itself {e['enqueue_cpu_ms']:.3f} ms "
                f"({e['enqueue_per_s']:,.0f}/s). So of each enqueue, {e['enqueue_cpu_ms'] - e['insert_cpu_ms']:.3f} ms are the "
                f"function's checks and lookup, {e['insert_cpu_ms'] - e['commit_cpu_ms']:.3f} ms the `deliveries` row, and "
                f"{e['commit_cpu_ms']:.3f} ms a transaction's floor on this machine."]
    if "coalescing" in st:
        c = st["coalescing"]
        first, second = c["rows"][0]["coalescing"], c["rows"][1]["coalescing"]
        when = f", {c['date']}" if c.get("date") else ""
        out += ["", f"`--wakeup-coalescing`, flat out as above, {c['pairs']} interleaved pairs (`scripts/bench.py --coalescing-only`"
                f"{when}); {second} sustained more in {c['second_ahead_in']} of {c['pairs']} pairs:", "",
                "| `--wakeup-coalescing` | sustained/s (median) | runs | machine CPU ms/delivery (median) |", "|---|---|---|---|"]
        for r in c["rows"]:
            out.append(f"| {r['coalescing']} | {r['rate']:,.0f} | {', '.join(f'{x:,.0f}' for x in r['rates'])} | {r['machine_cpu_ms_per_delivery']:.3f} |")
    half = next(r for r in st["points"] if r["share"] == 0.5)
    verdict = lambda ok: "met" if ok else "**missed**"
    out += ["", "| target (issue #15) | result |", "|---|---|",
            f"| enqueue + deliver sustained ≥ 4,000/s | {verdict(m['rate'] >= 4000)}: {m['rate']:,.0f}/s |",
            f"| p99 ≤ 25 ms at half the sustained rate | {verdict(half['p99_ms'] <= 25)}: {half['p99_ms']} ms at {half['achieved_rate']:,.0f}/s |",
            f"| wake-up at low load < 50 ms median | {verdict(low['p50_ms'] < 50)}: {low['p50_ms']} ms |"]
    return out


def render_publish(p):
    out = ["", "### 6. Publish and fan-out (`herald.publish()`, issue #13)", "",
           "One `publish()` per transaction, one pgbench client, no workers running, to an application whose every endpoint "
           "subscribes to the type:", "",
           "| subscribed endpoints | statement latency ms | publishes/s | rows per publish | WAL bytes per publish | WAL bytes per delivery |",
           "|---|---|---|---|---|---|"]
    for r in p["cost"]:
        out.append(f"| {r['subscribers']:,.0f} | {r['latency_ms']:.3f} | {r['publishes_per_s']:,.0f} | "
                   f"1 message + {r['deliveries_per_publish']:,.0f} deliveries | {r['wal_bytes_per_publish']:,.0f} | {r['wal_bytes_per_delivery']:,.0f} |")
    e, f = p["drain_enqueued"], p["drain_fanned_out"]
    out += ["", "Drain of 50,000 due deliveries to 10 endpoints at the defaults (1 × 8 × 16): queued one body each (as `enqueue()` "
            "writes them) vs fanned out by 5,000 publishes (the payload stored once per message, read by the lease through a join):", "",
            "| queued by | deliveries/s | worker CPU ms/delivery | machine CPU ms/delivery | WAL bytes/delivery |", "|---|---|---|---|---|",
            f"| enqueue | {e['rate']:,.0f} | {e['cpu_ms_per_delivery']:.3f} | {e['machine_cpu_ms_per_delivery']:.3f} | {e['wal_bytes_per_delivery']:,.0f} |",
            f"| publish fan-out | {f['rate']:,.0f} ({100 * (f['rate'] / e['rate'] - 1):+.1f}%) | {f['cpu_ms_per_delivery']:.3f} | "
            f"{f['machine_cpu_ms_per_delivery']:.3f} | {f['wal_bytes_per_delivery']:,.0f} |"]
    return out



POOLER_PORT = 54349


def start_pooler():
    """Debian's PgBouncer in transaction-pooling mode in front of the bench PostgreSQL (as the postgres user:
    it refuses root). Returns its URL and a stop function."""
    d = os.path.join(PG_DIR, "pgbouncer")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "pgbouncer.ini"), "w") as f:
        f.write(f"""[databases]
* = host=127.0.0.1 port={PG_PORT}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {POOLER_PORT}
unix_socket_dir =
auth_type = trust
auth_file = {d}/userlist.txt
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 40
ignore_startup_parameters = extra_float_digits,options
logfile = {d}/pgbouncer.log
pidfile = {d}/pgbouncer.pid
server_reset_query =
""")
    with open(os.path.join(d, "userlist.txt"), "w") as f:
        f.write('"postgres" ""\n')
    runas = ["/usr/sbin/runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    if os.getuid() == 0:
        sh("/bin/chown", "-R", "postgres:", d)
    sh(*runas, "/usr/sbin/pgbouncer", "-d", os.path.join(d, "pgbouncer.ini"))
    time.sleep(0.5)

    def stop_pooler():
        with open(os.path.join(d, "pgbouncer.pid")) as f:
            os.kill(int(f.read().strip()), signal.SIGINT)
        time.sleep(0.5)
    return f"postgres://postgres@127.0.0.1:{POOLER_PORT}/postgres", stop_pooler


def pooler_scenarios():
    """Section 7: the default worker's drain through a transaction-pooling PgBouncer (prepared statements off,
    LISTEN straight to PostgreSQL) next to the same drain straight to PostgreSQL."""
    url, stop_pooler = start_pooler()
    try:
        out = {"direct": median_of([drain(50000, 1, 8, 16) for _ in range(RUNS)]),
               "pooled": median_of([drain(50000, 1, 8, 16, worker_url=url, extra=("--prepared-statements", "off", "--listen-database-url", URL))
                                    for _ in range(RUNS)])}
    finally:
        stop_pooler()
    print("pooler", out, flush=True)
    return out


def render_pooler(p):
    d, q = p["direct"], p["pooled"]
    return ["", "### 7. Through PgBouncer (transaction pooling, Debian's 1.18)", "",
            "Drain of 50,000 due deliveries to 10 endpoints, one default worker (1 × 8 × 16); through the pooler with "
            "`--prepared-statements off --listen-database-url <PostgreSQL>` (README, Production):", "",
            "| connection | deliveries/s | worker CPU ms/delivery | machine CPU ms/delivery | DB round trips/delivery |", "|---|---|---|---|---|",
            f"| PostgreSQL directly | {d['rate']:,.0f} | {d['cpu_ms_per_delivery']:.3f} | {d['machine_cpu_ms_per_delivery']:.3f} | {d['round_trips_per_delivery']:.2f} |",
            f"| through PgBouncer | {q['rate']:,.0f} ({100 * (q['rate'] / d['rate'] - 1):+.1f}%) | {q['cpu_ms_per_delivery']:.3f} | "
            f"{q['machine_cpu_ms_per_delivery']:.3f} | {q['round_trips_per_delivery']:.2f} |"]


API_PORT = 18089
API_CONNECTIONS = 8


def db_counters():
    """Transactions and rows written by every session of the bench database so far, and the WAL position.
    Sessions report their counters when idle (at most a second late), so callers wait before reading."""
    xacts, rows = psql("SELECT xact_commit + xact_rollback, tup_inserted + tup_updated + tup_deleted "
                       "FROM pg_stat_database WHERE datname = current_database()").split("|")
    return int(xacts), int(rows), wal_lsn()


def db_cost(before, messages):
    """Per message: transactions, rows written and WAL bytes since `before` (db_counters())."""
    time.sleep(1.5)
    x0, r0, lsn0 = before
    x1, r1, _ = db_counters()
    wal = int(psql(f"SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '{lsn0}')"))
    n = max(messages, 1)
    return {"xacts_per_message": round((x1 - x0) / n, 2), "rows_written_per_message": round((r1 - r0) / n, 2),
            "wal_bytes_per_message": round(wal / n, 1)}


def api_publish(seconds):
    """wrk POSTing publishes (unique Idempotency-Key each) through `herald serve` (pool 8) to an application
    with one subscribed endpoint, API_CONNECTIONS connections; no workers. Requests/s, latency percentiles,
    serve's CPU, and the database's cost per message."""
    reset_schema()
    add_subscribers(1)
    token = sh(os.path.join(BIN, "herald"), "tokens", "create", "--admin", "--name", "bench", "--database-url", URL).strip()
    serve = subprocess.Popen([os.path.join(BIN, "herald"), "serve", "--database-url", URL, "--port", str(API_PORT),
                              "--pool-size", str(API_CONNECTIONS), "--log-level", "error"])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{API_PORT}/readyz", timeout=2).status == 200:
                    break
            except Exception:
                pass
            if time.monotonic() > deadline or serve.poll() is not None:
                raise SystemExit("herald serve did not become ready within 30 s")
            time.sleep(0.2)
        script = os.path.join(PG_DIR, "publish.lua")
        with open(script, "w") as f:
            f.write(f"""-- One publish per request; the Idempotency-Key (the event id) is unique per thread and request.
-- thread_id is set per thread by setup() (a global of that thread's Lua state).
local n, counter = 0, 0
function setup(thread) n = n + 1; thread:set("thread_id", n) end
function request()
  counter = counter + 1
  return wrk.format("POST", "/v1/applications/bench/messages", {{
    ["Authorization"] = "Bearer {token}", ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = "evt_" .. thread_id .. "_" .. counter}}, '{{"eventType":"order.created","payload":{{"n":1}}}}')
end
""")
        psql("CHECKPOINT")
        before = db_counters()
        cpu0, busy0 = proc_stats(serve.pid)[0], machine_busy()
        out = sh("wrk", "-t", "2", "-c", str(API_CONNECTIONS), "-d", f"{seconds}s", "--latency", "-s", script, f"http://127.0.0.1:{API_PORT}")
        cpu, busy = proc_stats(serve.pid)[0] - cpu0, machine_busy() - busy0
        messages = int(psql("SELECT count(*) FROM herald.messages"))
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if bad:
            raise SystemExit(f"wrk: {bad.group(1)} requests were not answered 202:\n{out}")
        def ms(label):
            m = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
            return round(float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)], 2)
        row = {"requests_per_s": round(float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), 1),
               "p50_ms": ms("50%"), "p99_ms": ms("99%"), "messages": messages,
               "serve_cpu_ms_per_message": round(1000 * cpu / max(messages, 1), 3),
               "machine_cpu_ms_per_message": round(1000 * busy / max(messages, 1), 3)}
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
    # After serve stopped: an idle pooled session may hold its counters up to 10 s, a closing one reports them.
    row.update(db_cost(before, messages))
    return row


def direct_publish(seconds):
    """The same publishes (an event id each, one subscriber) as herald.publish() from pgbench, API_CONNECTIONS
    clients: what the API adds is the difference."""
    reset_schema()
    add_subscribers(1)
    script = os.path.join(PG_DIR, "publish_keyed.sql")
    with open(script, "w") as f:
        f.write("SELECT herald.publish('bench', 'order.created', '\\x7b226e223a317d'::bytea, 'evt_' || gen_random_uuid());\n")
    psql("CHECKPOINT")
    before = db_counters()
    busy0 = machine_busy()
    out = sh("pgbench", "-n", "-c", str(API_CONNECTIONS), "-j", "2", "-T", str(seconds), "-f", script, URL)
    busy = machine_busy() - busy0
    messages = int(psql("SELECT count(*) FROM herald.messages"))
    row = {"publishes_per_s": round(float(re.search(r"tps = ([\d.]+)", out).group(1)), 1),
           "latency_ms": round(float(re.search(r"latency average = ([\d.]+) ms", out).group(1)), 3), "messages": messages,
           "machine_cpu_ms_per_message": round(1000 * busy / max(messages, 1), 3)}
    row.update(db_cost(before, messages))
    return row


def api_scenarios(seconds):
    """Section 8: publish through `herald serve` next to herald.publish() called directly."""
    out = {"seconds": seconds, "connections": API_CONNECTIONS,
           "api": median_of([api_publish(seconds) for _ in range(RUNS)]),
           "direct": median_of([direct_publish(seconds) for _ in range(RUNS)])}
    print("api", out, flush=True)
    return out


def render_api(p):
    a, d = p["api"], p["direct"]
    return ["", "### 8. Publish through the admin API (`herald serve`, issue #14)", "",
            f"wrk, {p['connections']} connections for {p['seconds']} s, each request `POST /v1/applications/bench/messages` with a "
            f"unique `Idempotency-Key` (admin token, one subscribed endpoint, no workers), against `herald.publish()` with an event "
            f"id from pgbench with {p['connections']} clients. Database cost from `pg_stat_database` and the WAL position:", "",
            "| path | publishes/s | p50 ms | p99 ms | transactions/message | rows written/message | WAL bytes/message | "
            "serve CPU ms/message | machine CPU ms/message |", "|---|---|---|---|---|---|---|---|---|",
            f"| `herald serve` | {a['requests_per_s']:,.0f} | {a['p50_ms']} | **{a['p99_ms']}** | {a['xacts_per_message']:.2f} | "
            f"{a['rows_written_per_message']:.2f} | {a['wal_bytes_per_message']:,.0f} | {a['serve_cpu_ms_per_message']:.3f} | "
            f"{a['machine_cpu_ms_per_message']:.3f} |",
            f"| `herald.publish()` directly | {d['publishes_per_s']:,.0f} | {d['latency_ms']} (mean) | | {d['xacts_per_message']:.2f} | "
            f"{d['rows_written_per_message']:.2f} | {d['wal_bytes_per_message']:,.0f} | | {d['machine_cpu_ms_per_message']:.3f} |"]


def fill_large(size):
    """A filler for drain(): deliveries of `size` bytes each, distinct per row."""
    return lambda count, endpoints=10: fill(count, endpoints, path="/big",
                                            body=f"decode(repeat(md5(g::text || e.id), {size // 16}), 'hex')")


def large_body_scenarios():
    """Section 9: peak worker RSS delivering large bodies at the defaults (one worker, 8 slots x 16, the
    default --max-in-flight-bytes of 64 MiB), against a receiver that answers at once."""
    rows = []
    for size_mib, count in [(1, 1000), (10, 100)]:
        runs = [drain(count, 1, 8, 16, timeout=300, filler=fill_large(size_mib << 20)) for _ in range(RUNS)]
        row = dict(median_of(runs), body_mib=size_mib, count=count)
        rows.append(row)
        print("large bodies", row, flush=True)
    return {"rows": rows}


def render_large(p):
    out = ["", "### 9. Large bodies: memory bounded by bytes (issue #15)", "",
           "One default worker (8 slots × batch 16, `--max-in-flight-bytes` 64 MiB) drains deliveries with large bodies to "
           "10 endpoints (herald-receiver answering at once). Bodies over 64 KiB are fetched in binary only when the byte "
           "budget admits them, one per round trip; a slot that had to put bodies back leases one row at a time until "
           "none waits; `herald worker` fixes glibc's mmap threshold at 4 MiB so that freed large bodies go back to the "
           "system. Before these changes the issue measured 841 MiB peak RSS for 1,000 bodies of 1 MB; during this work, "
           "without the fixed threshold, 10 MiB bodies peaked at 443-531 MiB, and without the one-row leases they cost "
           "104 row versions and 30 round trips per delivery (bodies leased and put back over and over).", "",
           "| body | deliveries | deliveries/s | MB/s | worker peak RSS MiB |", "|---|---|---|---|---|"]
    for r in p["rows"]:
        out.append(f"| {r['body_mib']} MiB | {r['deliveries']:,} | {r['rate']:,.1f} | {r['rate'] * r['body_mib'] * 1.048576:,.0f} | "
                   f"**{r['peak_rss_mib']:.0f}** |")
    return out


def render(results):
    """The figures as Markdown, for docs/benchmarks.md between its bench markers."""
    m = results["machine"]
    out = [f"Run {m['date']}: `scripts/bench.py`, median of {m['runs_per_figure']} runs per figure, nproc = {m['nproc']}, "
           f"PostgreSQL {m['postgres']}, load average {' / '.join(m['load_before'])} before it started. PostgreSQL, the "
           "receiver, pgbench and the workers all share the machine; nothing else ran.", ""]
    out += ["### 1. Drain: 50,000 due deliveries, instant receiver", "",
            "| processes × slots × batch | deliveries/s | worker CPU ms/delivery | receiver CPU ms/delivery | "
            "whole machine CPU ms/delivery | DB round trips/delivery | WAL bytes/delivery | worker peak RSS MiB |",
            "|---|---|---|---|---|---|---|---|"]
    for r in results["drain"]:
        late = "" if r["deliveries"] >= 50000 else f" ({int(r['deliveries']):,} in 60 s)"
        out.append(f"| {r['processes']} × {r['concurrency']} × {r['batch']} | {r['rate']:,.0f}{late} | {r['cpu_ms_per_delivery']:.3f} | "
                   f"{r['receiver_cpu_ms_per_delivery']:.3f} | {r['machine_cpu_ms_per_delivery']:.3f} | {r['round_trips_per_delivery']:.2f} | "
                   f"{r['wal_bytes_per_delivery']:,.0f} | {r['peak_rss_mib']:.0f} |")
    if "drain_one_endpoint" in results:
        r = results["drain_one_endpoint"]
        default = next(d for d in results["drain"] if (d["processes"], d["concurrency"], d["batch"]) == (1, 8, 16))
        out += ["", "All 50,000 to **one** endpoint at the defaults (1 × 8 × 16; one key, its window opening from 5 to the "
                f"cap of 128): **{r['rate']:,.0f}/s**, {100 * r['rate'] / default['rate']:.0f}% of the 10-endpoint figure; "
                f"worker CPU {r['cpu_ms_per_delivery']:.3f} ms, machine CPU {r['machine_cpu_ms_per_delivery']:.3f} ms, "
                f"{r['round_trips_per_delivery']:.2f} round trips and {r['wal_bytes_per_delivery']:,.0f} WAL bytes per delivery."]
    out += ["", "### 2. Ceiling: pgbench running Herald's SQL, one delivery per transaction", "",
            "| clients | pgbench transactions/s | best Herald layout with as many slots | Herald deliveries/s | ratio |",
            "|---|---|---|---|---|"]
    for c in results["ceiling"]:
        same = [r for r in results["drain"] if r["processes"] * r["concurrency"] == c["clients"]]
        best = max(same, key=lambda r: r["rate"])
        out.append(f"| {c['clients']} | {c['tps']:,.0f} | {best['processes']} × {best['concurrency']} × {best['batch']} | "
                   f"{best['rate']:,.0f} | {best['rate'] / c['tps']:.2f} |")
    e, l, h = results["end_to_end"], results["latency"], results["latency_at_half_drain_max"]
    out += ["", "### 3. Latency: enqueue commit → first byte at the receiver", "",
            f"Enqueueing and delivering at once (pgbench calling `herald.enqueue()` flat out with {ENQUEUE_CLIENTS} clients, "
            f"default worker 1 × 8 × 16), the machine sustains **{e['rate']:,.0f}/s** ({e['enqueued_per_s']:,.0f} enqueued/s). "
            "At half of that:", "",
            "| enqueue rate asked / achieved | samples | p50 ms | p95 ms | p99 ms |", "|---|---|---|---|---|",
            f"| {l['rate']:,.0f} / {l['achieved_rate']:,.0f} | {l['samples']:,.0f} | {l['p50_ms']} | {l['p95_ms']} | **{l['p99_ms']}** |",
            f"| half the drain maximum: {h['rate']:,.0f} / {h['achieved_rate']:,.0f} (past saturation) | {h['samples']:,.0f} | "
            f"{h['p50_ms']} | {h['p95_ms']} | {h['p99_ms']} |"]
    if "steady" in results:
        out += render_steady(results["steady"], results.get("drain") or (), results.get("machine", {}).get("nproc") or os.cpu_count())
    out += ["", "### 4. Slow endpoints (receiver answers after 200 ms)", "",
            f"10 endpoints (window cap 128 each); {SPARE_SLOTS} spare slots per worker (the default). A round still waiting "
            "for its sends 100 ms after they started hands its permit to a spare slot when a ring (here, a full lease's) "
            "finds no slot free, so more sends are in flight than processes × slots × batch.", "",
            "| processes × slots × batch (their product) | sends in flight, measured (rate × 0.2 s) | deliveries/s | "
            "PostgreSQL connections in use | worker peak RSS MiB |",
            "|---|---|---|---|---|"]
    for r in results["slow"]:
        measured = f"{r['in_flight_measured']:,.0f}" if "in_flight_measured" in r else "not taken"
        out.append(f"| {r['processes']} × {r['concurrency']} × {r['batch']} ({r['in_flight']:,.0f}) | {measured} | {r['rate']:,.0f} | "
                   f"{r['connections']:.0f} | {r['peak_rss_mib']:.0f} |")
    if "many_slots" in results:
        out += render_many_slots(results["many_slots"])
    sc = results["scale"]
    base = sc["rate_10k"]
    out += ["", f"### 5. Scale ({sc['layout'].replace('x', ' × ')}, 8 s windows, 80,000 due deliveries to 4 endpoints)", "",
            "| besides the due deliveries | deliveries/s | vs 10,000 |", "|---|---|---|",
            f"| 10,000 pending, not yet due | {base:,.0f} | |",
            f"| 1,000,000 pending, not yet due | {sc['rate_1m']:,.0f} | {100 * (sc['rate_1m'] / base - 1):+.1f}% |",
            f"| 100,000 due behind an open breaker | {sc['rate_behind_open_breaker_100k']:,.0f} | "
            f"{100 * (sc['rate_behind_open_breaker_100k'] / base - 1):+.1f}% |"]
    best = max(results["drain"], key=lambda r: r["rate"])
    default = next(r for r in results["drain"] if (r["processes"], r["concurrency"], r["batch"]) == (1, 8, 16))
    single = next(r for r in results["drain"] if r["batch"] == 1)
    flight = {r["in_flight"]: r for r in results["slow"]}
    top_ceiling = max(c["tps"] for c in results["ceiling"])
    verdict = lambda ok: "met" if ok else "**missed**"
    out += ["", "### Targets", "", "| target | result |", "|---|---|",
            f"| ≥ 5,000 deliveries/s, at or above the single-delivery ceiling | {verdict(best['rate'] >= 5000 and best['rate'] >= top_ceiling)}: "
            f"{best['rate']:,.0f}/s at {best['processes']} × {best['concurrency']} × {best['batch']} "
            f"({best['rate'] / top_ceiling:.2f}× the best pgbench ceiling); defaults {default['rate']:,.0f}/s |",
            f"| ≤ 2 round trips per delivery | {verdict(default['round_trips_per_delivery'] <= 2)}: {default['round_trips_per_delivery']:.2f} "
            f"at the default batch of 16, {best['round_trips_per_delivery']:.2f} at {best['batch']}; {single['round_trips_per_delivery']:.2f} at batch 1 |",
            f"| enqueue → receiver p99 ≤ 25 ms at half load | {verdict(l['p99_ms'] <= 25)}: {l['p99_ms']} ms at {l['achieved_rate']:,.0f}/s |",
            f"| 1,024 sends in flight to 200 ms endpoints on ≤ 64 connections | {verdict(flight[1024]['connections'] <= 64)} for the "
            f"connections: {flight[1024]['connections']:.0f} at 2 × 16 × 32, {flight[1024]['rate']:,.0f}/s"
            + (f"; {flight[1024]['in_flight_measured']:,.0f} in flight measured" if "in_flight_measured" in flight[1024] else "") + " |",
            f"| 1,000,000-row drain within 10% of 10,000 | {verdict(sc['rate_1m'] >= 0.9 * base)}: {100 * (sc['rate_1m'] / base - 1):+.1f}% |",
            f"| no slowdown behind an open breaker | {verdict(sc['rate_behind_open_breaker_100k'] >= 0.9 * base)} (within 10%): "
            f"{100 * (sc['rate_behind_open_breaker_100k'] / base - 1):+.1f}% |",
            f"| worker peak RSS ≤ 100 MiB with 256 in flight | {verdict(flight[256]['peak_rss_mib'] <= 100)}: {flight[256]['peak_rss_mib']:.0f} MiB |"]
    if "publish" in results:
        out += render_publish(results["publish"])
    if "pooler" in results:
        out += render_pooler(results["pooler"])
    if "api" in results:
        out += render_api(results["api"])
    if "large" in results:
        out += render_large(results["large"])
    return "\n".join(out) + "\n"


def write_section(name, body, title=None):
    """Replaces the part of docs/benchmarks.md between `<!-- {name}:begin … -->` and `<!-- {name}:end -->`
    with `body`. Without the markers: appended under `title` if one is given, else refused."""
    path = os.path.join(ROOT, "docs", "benchmarks.md")
    begin, end = f"<!-- {name}:begin (scripts/{name}.py writes this part) -->", f"<!-- {name}:end -->"
    with open(path) as f:
        text = f.read()
    if begin not in text or end not in text:
        if title is None:
            raise SystemExit(f"{path} lacks the {begin} / {end} markers; add them where the figures go")
        text += f"\n## {title}\n\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    with open(path, "w") as f:
        f.write(head + begin + "\n" + body + end + rest.split(end, 1)[1])


def write_markdown(results):
    write_section("bench", render(results))


def main():
    sh(os.path.join(ROOT, "scripts", "dev-postgres.sh"), "start")
    results = {"machine": {"nproc": os.cpu_count(), "runs_per_figure": RUNS, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                           "load_before": open("/proc/loadavg").read().split()[:3],
                           "postgres": psql("SHOW server_version")},
               "drain": [], "ceiling": [], "latency": None, "slow": [], "scale": {}}
    # 1. Drain, with the pgbench ceiling at matching client counts (2).
    configs = [(1, 8, 16)] if "--drain-only" in sys.argv else DRAIN_LAYOUTS
    for procs, conc, batch in configs:
        runs = [drain(50000, procs, conc, batch) for _ in range(RUNS)]
        row = dict(median_of(runs), processes=procs, concurrency=conc, batch=batch)
        results["drain"].append(row)
        print("drain", row, flush=True)
    # 1b. Every delivery to one endpoint, at the defaults: one key's window opens up to the cap (128).
    runs = [drain(50000, 1, 8, 16, endpoints=1) for _ in range(RUNS)]
    results["drain_one_endpoint"] = dict(median_of(runs), processes=1, concurrency=8, batch=16)
    print("drain to one endpoint", results["drain_one_endpoint"], flush=True)
    if "--drain-only" in sys.argv:
        return results
    for clients in sorted({p * c for p, c, _ in configs}):
        tps = statistics.median(ceiling(clients) for _ in range(RUNS))
        results["ceiling"].append({"clients": clients, "tps": tps})
        print("ceiling", clients, tps, flush=True)
    best = max(results["drain"], key=lambda r: r["rate"])
    # 3. Latency at half load. Producers share the machine here, so "the maximum" is what it sustains
    # while enqueueing too; half the drain maximum (enqueue plus delivery past saturation) is shown as well.
    results["end_to_end"] = median_of([end_to_end_max() for _ in range(RUNS)])
    print("end_to_end", results["end_to_end"], flush=True)
    results["latency"] = median_of([latency(int(results["end_to_end"]["rate"] / 2)) for _ in range(RUNS)])
    print("latency", results["latency"], flush=True)
    results["latency_at_half_drain_max"] = latency(int(best["rate"] / 2))
    print("latency at half the drain maximum", results["latency_at_half_drain_max"], flush=True)
    # 3b. Steady state: eight producers, one enqueue per transaction.
    results["steady"] = steady_scenarios()
    results["steady"]["coalescing"] = coalescing_ab()
    # 4. Slow endpoints.
    results["slow"] = slow_scenarios()
    results["many_slots"] = many_slots_scenarios()
    # 5. Scale.
    results["scale"] = {
        "layout": "x".join(map(str, SCALE_LAYOUT)),
        "rate_10k": statistics.median(scale(10000) for _ in range(RUNS)),
        "rate_1m": statistics.median(scale(1000000) for _ in range(RUNS)),
        "rate_behind_open_breaker_100k": statistics.median(scale(0, 100000) for _ in range(RUNS)),
    }
    print("scale", results["scale"], flush=True)
    # 6. Publish and fan-out. 7. Through PgBouncer.
    results["publish"] = publish_scenarios()
    results["pooler"] = pooler_scenarios()
    # 8. Publish through the admin API.
    results["api"] = api_scenarios(API_SECONDS)
    # 9. Large bodies.
    results["large"] = large_body_scenarios()
    sh(os.path.join(ROOT, "scripts", "dev-postgres.sh"), "stop")
    with open(os.path.join(ROOT, "docs", "benchmarks.json"), "w") as f:
        json.dump(results, f, indent=2)
    write_markdown(results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    if any(f in sys.argv for f in ("--publish-only", "--pooler-only", "--api-only", "--large-only", "--steady-only", "--slots-only", "--slow-only", "--coalescing-only")):
        # The sections named by the flags alone, merged into the last full run's figures.
        sh(os.path.join(ROOT, "scripts", "dev-postgres.sh"), "start")
        path = os.path.join(ROOT, "docs", "benchmarks.json")
        with open(path) as f:
            kept = json.load(f)
        stamp = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "runs_per_figure": RUNS,
                 "load_before": open("/proc/loadavg").read().split()[:3]}
        if "--publish-only" in sys.argv:
            kept["publish"] = dict(publish_scenarios(), **stamp)
        if "--pooler-only" in sys.argv:
            kept["pooler"] = dict(pooler_scenarios(), **stamp)
        if "--api-only" in sys.argv:
            kept["api"] = dict(api_scenarios(API_SECONDS), **stamp)
        if "--large-only" in sys.argv:
            kept["large"] = dict(large_body_scenarios(), **stamp)
        if "--steady-only" in sys.argv:
            kept["steady"] = dict(steady_scenarios(), **stamp)
        if "--coalescing-only" in sys.argv:
            kept["steady"]["coalescing"] = dict(coalescing_ab(), **stamp)
        if "--slow-only" in sys.argv:
            kept["slow"] = [dict(r, **stamp) for r in slow_scenarios()]
        if "--slots-only" in sys.argv:
            kept["many_slots"] = [dict(r, **stamp) for r in many_slots_scenarios()]
        sh(os.path.join(ROOT, "scripts", "dev-postgres.sh"), "stop")
        with open(path, "w") as f:
            json.dump(kept, f, indent=2)
        write_markdown(kept)
    elif "--render" in sys.argv:
        # Rewrites docs/benchmarks.md's figures from docs/benchmarks.json without measuring again.
        with open(os.path.join(ROOT, "docs", "benchmarks.json")) as f:
            write_markdown(json.load(f))
    else:
        main()
