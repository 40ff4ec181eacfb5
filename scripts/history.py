#!/usr/bin/env python3
"""make bench-history: the operator's commands, the audit queries and the drain, without and with a large history.

Issue #15: with 10 million finished deliveries and 30 million attempts kept for audit, no hot path may scan
them. This script measures, on the bench's throwaway PostgreSQL (127.0.0.1, a release build):

1. with an empty history: the same 1,000 endpoints and the same last hour of traffic as the second phase
   (RECENT finished deliveries with their attempts, so every command prints the same page and the same
   endpoints), and nothing older. It measures `herald status`, `herald deliveries list` (default and
   `--state dead`), `herald endpoints list` (wall time of the command, median of SAMPLES after one
   unrecorded run), the documented audit queries of docs/audit.md (server execution time from EXPLAIN
   ANALYZE, median of SAMPLES after one unrecorded run), and the drain of 50,000 due deliveries at the
   defaults (1 × 8 × 16, 10 endpoints, median of RUNS);
2. then, on a fresh schema (the first phase's drains are dropped), builds in SQL the history: 10,000,000
   finished deliveries over the 30 days before that last hour (97% delivered, 2% dead, 1% failed; each
   with an event id and a 200-byte body) and 30,000,000 attempts (three per delivery), then the same last
   hour again on top (newer ids, as in a real deployment), VACUUM ANALYZE;
3. measures the same again, and writes the comparison to docs/history.json and docs/benchmarks.md.

So the two phases differ by the kept history only. (Until 2026-12-04 the first phase was an empty
database: no endpoints and no deliveries, so `deliveries list` printed "no deliveries" and `endpoints list`
nothing, and the comparison measured the size of the output as much as the history.)

Bounded: the build takes about 8 minutes and 14 GB of disk on the bench machine, the whole run about 25
(measured: see docs/benchmarks.md). Smaller runs for a try: `scripts/history.py --deliveries=1000000`;
`--recent`, `--samples`, `--runs` and `--drain` set the last hour's size, the samples per command or
query, the drains per phase and the deliveries per drain.
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
RUNS = arg("runs", 5)
# A command's wall time varies by ±20% between runs on the bench machine (a process start and a connection
# each time), more than the 10% the comparison looks for: 15 samples, after one unrecorded warm-up run.
SAMPLES = arg("samples", 15)
RECENT = arg("recent", 10_000)
if RECENT < 2:
    raise SystemExit("history.py: --recent must be at least 2 (the timeline query looks up an event of the last hour)")
CHUNK = 1_000_000
# An event of the last hour, present in both phases: the timeline query's work is the same, only the index
# it reads grows with the history.
PROBE_EVENT = f"evt_recent_{RECENT // 2}"

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


def command_ms(args, runs=SAMPLES):
    times = []
    for _ in range(runs + 1):
        start = time.monotonic()
        subprocess.run([os.path.join(b.BIN, "herald"), *args, "--database-url", b.URL, "--log-level", "error"],
                       check=True, capture_output=True, env=b.ENV)
        times.append(1000 * (time.monotonic() - start))
    return round(statistics.median(times[1:]), 1)


def query_ms(sql, runs=SAMPLES):
    times = []
    for _ in range(runs + 1):
        plan = psql(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
        times.append(json.loads(plan)[0]["Execution Time"])
    return round(statistics.median(times[1:]), 2)


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


def build_endpoints():
    psql(f"""INSERT INTO herald.endpoints (url, secret)
               SELECT 'https://history-' || g || '.example.com/hooks', 'whsec_' || encode(sha256(g::text::bytea), 'base64')
               FROM generate_series(1, {HISTORY_ENDPOINTS}) g""")


def insert_finished(count, prefix, oldest, span_seconds, started):
    """`count` finished deliveries with ATTEMPTS_PER attempts each, created evenly from `oldest` (SQL) over
    `span_seconds`, oldest first like a real history, each finished a few seconds after it was created;
    event ids and idempotency keys are `prefix` + the row number."""
    first = int(psql("SELECT min(id) FROM herald.endpoints WHERE url LIKE 'https://history-%'"))
    low = int(psql("SELECT coalesce(max(id), 0) + 1 FROM herald.deliveries"))
    for lo in range(1, count + 1, CHUNK):
        hi = min(count, lo + CHUNK - 1)
        psql(f"""
            INSERT INTO herald.deliveries (endpoint_id, event_type, event_id, idempotency_key, body, state, attempts,
                                           next_attempt_at, breaker_key, last_status, created_at, updated_at, finished_at)
            SELECT {first} + g % {HISTORY_ENDPOINTS}, 'invoice.paid', 'evt_{prefix}' || g, 'msg_{prefix}' || g,
                   convert_to(rpad('{{"invoice":' || g || ',"note":"', 190, 'x') || '"}}', 'UTF8'),
                   s, {ATTEMPTS_PER}, t, 'endpoint:' || ({first} + g % {HISTORY_ENDPOINTS}),
                   CASE s WHEN 'delivered' THEN 200 ELSE 500 END, t, t + interval '3 seconds', t + interval '3 seconds'
            FROM generate_series({lo}, {hi}) g,
                 LATERAL (SELECT {oldest} + ({span_seconds}::float8 * g / {count}) * interval '1 second' AS t,
                                 CASE WHEN g % 100 < 97 THEN 'delivered' WHEN g % 100 < 99 THEN 'dead' ELSE 'failed' END AS s) x""")
        print(f"  {prefix} deliveries {hi:,} ({time.monotonic() - started:.0f} s)", flush=True)
    high = int(psql("SELECT max(id) FROM herald.deliveries"))
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
        print(f"  {prefix} attempts up to delivery {hi:,} ({time.monotonic() - started:.0f} s)", flush=True)


def build(history):
    """The endpoints, the kept history if `history` (30 days, ending an hour ago), then the last hour."""
    started = time.monotonic()
    build_endpoints()
    if history:
        insert_finished(DELIVERIES, "hist_", "now() - interval '30 days' - interval '1 hour'", 30 * 86400, started)
    insert_finished(RECENT, "recent_", "now() - interval '1 hour'", 3600 - 60, started)
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
        baseline = build(history=False)
        print(json.dumps(baseline), flush=True)
        empty = measure("empty")
        # The empty phase's drains leave 250,000 deliveries and their attempts of the last hour, which
        # endpoint_health aggregates: dropped, so the full phase differs from the empty one by the history only.
        b.reset_schema()
        history = build(history=True)
        print(json.dumps(history), flush=True)
        full = measure("full")
        # The empty history once more, after: on the bench machine whichever phase ran first measured up to
        # 20-30% slower (three runs on 2026-12-04), more than the 10% the comparison looks for, so the
        # history is compared with the mean of an empty phase before it and one after it.
        b.reset_schema()
        build(history=False)
        after = measure("after")
    finally:
        b.sh(os.path.join(ROOT, "scripts", "dev-postgres.sh"), "stop")
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "baseline": baseline, "history": history,
              "empty": empty, "full": full, "empty_after": after}
    with open(os.path.join(ROOT, "docs", "history.json"), "w") as f:
        json.dump(result, f, indent=2)
    write_markdown(result)
    print(json.dumps(result, indent=2))


def change(before, after):
    return f"{100 * (after - before) / before:+.0f}%" if before else "n/a"


def write_markdown(r):
    h = r["history"]
    e0 = r["baseline"]
    rows = ["", f"History at scale ({r['date']}, `make bench-history`): {DELIVERIES:,} finished deliveries and "
            f"{DELIVERIES * ATTEMPTS_PER:,} attempts kept, over 30 days (in all {h['deliveries']:,} deliveries, "
            f"{h['mib']['deliveries']:,} MiB, and {h['attempts']:,} attempts, {h['mib']['attempts']:,} MiB, with indexes; "
            f"built in SQL in {h['seconds']:,} s), against an empty history measured before and after it. All phases have the same "
            f"{HISTORY_ENDPOINTS:,} endpoints and the same last hour ({e0['deliveries']:,} finished deliveries, "
            f"{e0['attempts']:,} attempts), so they differ by the kept history only. Commands: wall time of the process, "
            f"median of {SAMPLES}; queries: server execution time (EXPLAIN ANALYZE), median of {SAMPLES}; drain: {DRAIN:,} due "
            f"deliveries at the defaults, median of {RUNS}. Command: `scripts/history.py {' '.join(sys.argv[1:])}`.", "",
            "| what | empty history, before | with the history | empty history, after | change against the mean of the two |",
            "|---|---|---|---|---|"]

    def row(label, before, full, after, unit):
        mean = (before + after) / 2
        fmt = (lambda v: f"{v:,.0f}") if unit == "/s" else (lambda v: f"{v} ms")
        rows.append(f"| {label} | {fmt(before)} | {fmt(full)} | {fmt(after)} | {change(mean, full)} |")
    for kind, label in (("commands_ms", "`{}`"), ("queries_ms", "query: {}")):
        for name in r["empty"][kind]:
            row(label.format(name), r["empty"][kind][name], r["full"][kind][name], r["empty_after"][kind][name], "ms")
    row("drain, deliveries/s", r["empty"]["drain_per_s"], r["full"]["drain_per_s"], r["empty_after"]["drain_per_s"], "/s")
    b.write_section("history", "\n".join(rows) + "\n", title="History at scale")


if __name__ == "__main__":
    main()
