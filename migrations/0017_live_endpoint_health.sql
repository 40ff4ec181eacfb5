-- 0017: deleted endpoints (0016) leave endpoint_health.
--
-- A deleted endpoint is gone for operators: lists, lookups and fan-out skip it (0016). endpoint_health,
-- which the console's endpoint page, `herald endpoints` and the Grafana panels read, still listed it, with
-- an Enable button that could only fail. The same columns as 0013's view, for live endpoints only; a
-- deleted endpoint's history stays in delivery_timeline and the attempts.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

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
WHERE e.deleted_at IS NULL
GROUP BY e.id, e.url, e.enabled, b.state, e.application_id, e.disabled_reason, e.failing_since;
