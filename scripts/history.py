#!/usr/bin/env python3
"""make bench-history: the operator's commands, the audit queries and the drain, without and with a large history.

Issue #15: with 10 million finished deliveries and 30 million attempts kept for audit, no hot path may scan
them. This script measures, on the bench's throwaway PostgreSQL (127.0.0.1, a release build):

1. with an empty history: `herald status`, `herald deliveries list` (default and `--state dead`),
   `herald endpoints list` (wall time of the command, median of 5), the documented audit queries of
   docs/audit.md (server execution time from EXPLAIN ANALYZE, median of 5), and the drain of 50,000 due
   deliveries at the defaults (1 × 8 × 16, 10 endpoints, median of 3);
2. then builds the history in SQL: 1,000 endpoints, 10,000,000 finished deliveries spread over 30 days
   (97% delivered, 2% dead, 1% failed; each with an event id and a 200-byte body) and 30,000,000 attempts
   (three per delivery), VACUUM ANALYZE, on a fresh schema (the first phase's drains are dropped, so that
   the last hour's attempts, which endpoint_health aggregates, are the same in both phases);
3. measures the same again, and writes the comparison to docs/history.json and docs/benchmarks.md.

Bounded: the build takes about 10-20 minutes and 12 GB of disk on the bench machine (measured: see
docs/benchmarks.md). Smaller runs for
a try: `scripts/history.py --deliveries=1000000`.
"""
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as b  # noqa: E402

ROOT = b.ROOT
arg = lambda name, default: next((type(default)(a.split("=", 1)[1]) for a in sys.argv if a.startswith(f"--{name}=")), default)
DELIVERIES = arg("deliveries", 10_000_000)
ATTEMPTS_PER = 3
HISTORY_ENDPOINTS = 1000
DRAIN = arg("drain", 50_000)
RUNS = arg("runs", 3)
CHUNK = 1_000_000
PROBE_EVENT = f"evt_{DELIVERIES // 2}"

# The documented queries (docs/audit.md), as an operator types them.
AUDIT = {
    "timeline by event id": f"SELECT at, what, attempt, status_code, duration_ms, error, worker_id FROM herald.delivery_timeline "
                            f"WHERE event_id = '{PROBE_EVENT}' ORDER BY delivery_id, at",
    "dead letters, newest 50": "SELECT delivery_id, state, url, event_type, event_id, attempts, last_status, last_error, finished_at "
                               "FROM herald.dead_letters ORDER BY finished_at DESC LIMIT 50",
    "endpoint health": "SELECT url, attempts_1h, success_pct_1h, p95_ms_1h, pending, breaker_state FROM herald.endpoint_health "
                       "ORDER BY success_pct_1h NULLS LAST, attempts_1h DESC",
    "breakers": "SELECT key, state, consecutive_failures, trips, open_until, last_transition FROM herald.breaker_status",
    "operator events, newest 20": "SELECT at, delivery_id, what, from_state, ended_at, actor FROM herald.delivery_events ORDER BY id DESC LIMIT 20",
    "pending count": "SELECT count(*) FROM herald.deliveries WHERE state = 'pending'",
    "lag": "SELECT now() - min(next_attempt_at) AS lag FROM herald.deliveries WHERE state = 'pending' AND next_attempt_at <= now()",
    # Not a hot path and documented as a scan: kept here so that its cost is known.
    "all states (a full count)": "SELECT state, count(*) FROM herald.deliveries GROUP BY state",
}
COMMANDS = {
    "herald status": ["status"],
    "herald deliveries list": ["deliveries", "list"],
    "herald deliveries list --state dead": ["deliveries", "list", "--state", "dead"],
    "herald endpoints list": ["endpoints", "list"],
}


def psql(sql):
    """bench.psql, with PostgreSQL's own message when a statement fails."""
    try:
        return b.psql(sql)
    except subprocess.CalledProcessError as e:
        raise SystemExit(f"history.py: a statement failed: {e.stderr.strip()}") from None


def command_ms(args, runs=5):
    times = []
    for _ in range(runs):
        start = time.monotonic()
        subprocess.run([os.path.join(b.BIN, "herald"), *args, "--database-url", b.URL, "--log-level", "error"],
                       check=True, capture_output=True, env=b.ENV)
        times.append(1000 * (time.monotonic() - start))
    return round(statistics.median(times), 1)


def query_ms(sql, runs=5):
    times = []
    for _ in range(runs):
        plan = psql(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
        times.append(json.loads(plan)[0]["Execution Time"])
    return round(statistics.median(times), 2)


def drain_rate(run):
    """Queues DRAIN due deliveries to 10 new endpoints (a path per run: new breakers, so each run includes
    the ramp, as in the bench's drain) and times the default worker delivering them."""
    receiver = b.start_receiver()
    b.fill(DRAIN, endpoints=10, path=f"/h{run}x")
    time.sleep(1.1)
    workers = b.start_workers(1, 8, 16)
    start = time.monotonic()
    while time.monotonic() - start < 120 and b.delivered_by(workers) < DRAIN:
        time.sleep(0.05)
    elapsed = time.monotonic() - start
    done = b.delivered_by(workers)
    b.stop(workers)
    receiver.terminate()
    return round(done / elapsed, 1)


def measure(label):
    print(f"measuring: {label}", flush=True)
    out = {"commands_ms": {name: command_ms(args) for name, args in COMMANDS.items()},
           "queries_ms": {name: query_ms(sql) for name, sql in AUDIT.items()}}
    rates = [drain_rate(f"{label[0]}{i}") for i in range(RUNS)]
    out["drain_per_s"] = statistics.median(rates)
    out["drain_runs"] = rates
    print(json.dumps(out), flush=True)
    return out


def build_history():
    started = time.monotonic()
    psql(f"""INSERT INTO herald.endpoints (url, secret)
               SELECT 'https://history-' || g || '.example.com/hooks', 'whsec_' || encode(sha256(g::text::bytea), 'base64')
               FROM generate_series(1, {HISTORY_ENDPOINTS}) g""")
    first = int(psql("SELECT min(id) FROM herald.endpoints WHERE url LIKE 'https://history-%'"))
    span = 30 * 86400
    for lo in range(1, DELIVERIES + 1, CHUNK):
        hi = min(DELIVERIES, lo + CHUNK - 1)
        # Oldest first, like a real history; created over 30 days, each finished a few seconds later.
        psql(f"""
            INSERT INTO herald.deliveries (endpoint_id, event_type, event_id, idempotency_key, body, state, attempts,
                                           next_attempt_at, breaker_key, last_status, created_at, updated_at, finished_at)
            SELECT {first} + g % {HISTORY_ENDPOINTS}, 'invoice.paid', 'evt_' || g, 'msg_hist_' || g,
                   convert_to(rpad('{{"invoice":' || g || ',"note":"', 190, 'x') || '"}}', 'UTF8'),
                   s, {ATTEMPTS_PER}, t, 'endpoint:' || ({first} + g % {HISTORY_ENDPOINTS}),
                   CASE s WHEN 'delivered' THEN 200 ELSE 500 END, t, t + interval '3 seconds', t + interval '3 seconds'
            FROM generate_series({lo}, {hi}) g,
                 LATERAL (SELECT now() - interval '30 days' + ({span}::float8 * g / {DELIVERIES}) * interval '1 second' AS t,
                                 CASE WHEN g % 100 < 97 THEN 'delivered' WHEN g % 100 < 99 THEN 'dead' ELSE 'failed' END AS s) x""")
        print(f"  deliveries {hi:,} ({time.monotonic() - started:.0f} s)", flush=True)
    low, high = psql("SELECT min(id) || ' ' || max(id) FROM herald.deliveries WHERE idempotency_key LIKE 'msg_hist_%'").split()
    low, high = int(low), int(high)
    for lo in range(low, high + 1, CHUNK):
        hi = min(high, lo + CHUNK - 1)
        psql(f"""
            INSERT INTO herald.attempts (delivery_id, attempt, worker_id, started_at, duration_ms, status_code,
                                         request_headers, response_excerpt, retryable, outcome)
            SELECT d.id, a, 'history-worker', d.created_at + (a - 1) * interval '1 second', 40 + d.id % 60,
                   CASE WHEN a = {ATTEMPTS_PER} AND d.state = 'delivered' THEN 200 ELSE 500 END,
                   '{{"content-type": "application/json"}}'::jsonb,
                   CASE WHEN a = {ATTEMPTS_PER} AND d.state = 'delivered' THEN 'ok' ELSE 'upstream error' END,
                   NOT (a = {ATTEMPTS_PER}),
                   CASE WHEN a < {ATTEMPTS_PER} THEN 'retry' ELSE d.state END
            FROM herald.deliveries d, generate_series(1, {ATTEMPTS_PER}) a
            WHERE d.id BETWEEN {lo} AND {hi}""")
        print(f"  attempts for deliveries up to {hi:,} ({time.monotonic() - started:.0f} s)", flush=True)
    psql("VACUUM ANALYZE herald.deliveries")
    psql("VACUUM ANALYZE herald.attempts")
    psql("CHECKPOINT")
    sizes = psql("""SELECT json_object_agg(relname, round(pg_total_relation_size(relid) / 2^20))
                      FROM pg_stat_user_tables WHERE schemaname = 'herald' AND relname IN ('deliveries', 'attempts')""")
    counts = psql("SELECT (SELECT count(*) FROM herald.deliveries) || ' ' || (SELECT count(*) FROM herald.attempts)").split()
    return {"seconds": round(time.monotonic() - started), "mib": json.loads(sizes),
            "deliveries": int(counts[0]), "attempts": int(counts[1])}


def main():
    b.sh(os.path.join(ROOT, "scripts", "dev-postgres.sh"), "start")
    try:
        b.reset_schema()
        empty = measure("empty")
        # The empty phase's drains leave 150,000 deliveries and their attempts of the last hour, which
        # endpoint_health aggregates: dropped, so the full phase differs from the empty one by the history only.
        b.reset_schema()
        history = build_history()
        print(json.dumps(history), flush=True)
        full = measure("full")
    finally:
        b.sh(os.path.join(ROOT, "scripts", "dev-postgres.sh"), "stop")
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "history": history, "empty": empty, "full": full}
    with open(os.path.join(ROOT, "docs", "history.json"), "w") as f:
        json.dump(result, f, indent=2)
    write_markdown(result)
    print(json.dumps(result, indent=2))


def change(before, after):
    return f"{100 * (after - before) / before:+.0f}%" if before else "n/a"


def write_markdown(r):
    h = r["history"]
    rows = ["", f"History at scale ({r['date']}, `make bench-history`): {h['deliveries']:,} deliveries and {h['attempts']:,} "
            f"attempts kept (deliveries {h['mib']['deliveries']:,} MiB, attempts {h['mib']['attempts']:,} MiB with indexes; "
            f"built in SQL in {h['seconds']:,} s) against an empty history. Commands: wall time of the process, median of 5; "
            f"queries: server execution time (EXPLAIN ANALYZE), median of 5; drain: {DRAIN:,} due deliveries at the defaults, "
            f"median of {RUNS}. Command: `scripts/history.py {' '.join(sys.argv[1:])}`.", "",
            "| what | empty history | with the history | change |", "|---|---|---|---|"]
    for name in r["empty"]["commands_ms"]:
        e, f = r["empty"]["commands_ms"][name], r["full"]["commands_ms"][name]
        rows.append(f"| `{name}` | {e} ms | {f} ms | {change(e, f)} |")
    for name in r["empty"]["queries_ms"]:
        e, f = r["empty"]["queries_ms"][name], r["full"]["queries_ms"][name]
        rows.append(f"| query: {name} | {e} ms | {f} ms | {change(e, f)} |")
    e, f = r["empty"]["drain_per_s"], r["full"]["drain_per_s"]
    rows.append(f"| drain, deliveries/s | {e:,.0f} | {f:,.0f} | {change(e, f)} |")
    b.write_section("history", "\n".join(rows) + "\n", title="History at scale")


if __name__ == "__main__":
    main()
