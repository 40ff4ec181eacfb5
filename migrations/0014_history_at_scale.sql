-- 0014: the documented audit queries without scans of the history (issue #15, "history at scale").
--
-- Herald keeps finished deliveries and their attempts for the audit trail (30 days by default): tens of
-- millions of rows. Two things every operator runs walked all of them:
-- * `SELECT … FROM delivery_timeline WHERE event_id = …` (docs/audit.md's first query) had no index on
--   deliveries.event_id: a sequential scan of the history, in each of the view's branches;
-- * `endpoint_health` joined every delivery of every endpoint to find the last hour's attempts.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

-- "What happened to event X?" by index. Partial: deliveries without an event id (most enqueues) cost it
-- nothing. On a large existing table build it CONCURRENTLY by hand before migrating (docs/audit.md): this
-- migration then finds it and goes on.
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX IF NOT EXISTS deliveries_event_idx ON deliveries (event_id) WHERE event_id IS NOT NULL;

-- The same columns as 0012's endpoint_health, from the last hour's attempts (attempts_started_idx) to
-- their deliveries by primary key, instead of from every delivery to its attempts.
CREATE OR REPLACE VIEW endpoint_health AS
WITH recent AS (
    SELECT d.endpoint_id, a.id, a.outcome, a.duration_ms
    FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
    WHERE a.started_at > now() - interval '1 hour'
)
SELECT e.id AS endpoint_id, e.url, e.enabled,
       count(r.id) AS attempts_1h,
       round(100.0 * count(r.id) FILTER (WHERE r.outcome = 'delivered') / nullif(count(r.id), 0), 1) AS success_pct_1h,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY r.duration_ms) AS p95_ms_1h,
       (SELECT count(*) FROM deliveries p WHERE p.endpoint_id = e.id AND p.state = 'pending') AS pending,
       coalesce(b.state, 'closed') AS breaker_state,
       e.application_id, e.disabled_reason, e.failing_since
FROM endpoints e
LEFT JOIN recent r ON r.endpoint_id = e.id
LEFT JOIN circuit_breakers b ON b.key = coalesce(e.breaker_key, 'endpoint:' || e.id)
GROUP BY e.id, e.url, e.enabled, b.state, e.application_id, e.disabled_reason, e.failing_since;
