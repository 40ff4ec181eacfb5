-- 0004: views for operators reading the audit trail with psql (documented in docs/audit.md).

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

-- Every event of every delivery in time order: enqueued, each attempt, and the end.
-- "What happened to event X?":  SELECT * FROM herald.delivery_timeline WHERE event_id = 'X';
CREATE VIEW delivery_timeline AS
SELECT d.id AS delivery_id, d.event_id, d.event_type, e.url, d.idempotency_key,
       d.created_at AS at, 'enqueued' AS what, NULL::integer AS attempt, NULL::integer AS status_code,
       NULL::integer AS duration_ms, NULL::text AS error, NULL::text AS worker_id
FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
UNION ALL
SELECT d.id, d.event_id, d.event_type, e.url, d.idempotency_key,
       a.started_at, 'attempt: ' || a.outcome, a.attempt, a.status_code, a.duration_ms, a.error, a.worker_id
FROM attempts a JOIN deliveries d ON d.id = a.delivery_id JOIN endpoints e ON e.id = d.endpoint_id
UNION ALL
SELECT d.id, d.event_id, d.event_type, e.url, d.idempotency_key,
       d.finished_at, 'ended: ' || d.state, d.attempts, d.last_status, NULL, d.last_error, NULL
FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
WHERE d.finished_at IS NOT NULL;

-- Deliveries given up on, newest first, with the reason.
CREATE VIEW dead_letters AS
SELECT d.id AS delivery_id, d.state, e.url, d.event_type, d.event_id, d.attempts, d.last_status,
       d.last_error, d.created_at, d.finished_at
FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
WHERE d.state IN ('dead', 'failed');

-- Per endpoint over the last hour: attempts, success rate, p95 duration, and what is queued.
CREATE VIEW endpoint_health AS
SELECT e.id AS endpoint_id, e.url, e.enabled,
       count(a.id) AS attempts_1h,
       round(100.0 * count(a.id) FILTER (WHERE a.outcome = 'delivered') / nullif(count(a.id), 0), 1) AS success_pct_1h,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY a.duration_ms) AS p95_ms_1h,
       (SELECT count(*) FROM deliveries p WHERE p.endpoint_id = e.id AND p.state = 'pending') AS pending,
       coalesce(b.state, 'closed') AS breaker_state
FROM endpoints e
LEFT JOIN deliveries d ON d.endpoint_id = e.id
LEFT JOIN attempts a ON a.delivery_id = d.id AND a.started_at > now() - interval '1 hour'
LEFT JOIN circuit_breakers b ON b.key = coalesce(e.breaker_key, 'endpoint:' || e.id)
GROUP BY e.id, e.url, e.enabled, b.state;

-- Breakers as workers see them (half_open = open with the cool-down over) and their last transition.
CREATE VIEW breaker_status AS
SELECT b.key,
       CASE WHEN b.state = 'open' AND b.open_until <= now() THEN 'half_open' ELSE b.state END AS state,
       b.consecutive_failures, b.trips, b.open_until, b.total_successes, b.total_failures, b.updated_at,
       (SELECT ev.from_state || ' -> ' || ev.to_state || ': ' || ev.reason
        FROM circuit_breaker_events ev WHERE ev.breaker_key = b.key ORDER BY ev.id DESC LIMIT 1) AS last_transition
FROM circuit_breakers b;
