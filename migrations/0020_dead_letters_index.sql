-- 0020: the dead letters, newest first, without scanning the kept history (issue #15).
--
-- `dead_letters ORDER BY finished_at DESC LIMIT 50` (docs/audit.md) had no index to walk: with 10 million
-- finished deliveries kept (make bench-history) PostgreSQL scanned all of them in parallel and sorted the
-- dead and failed ones, 1.5 s. A partial index on the deliveries that ended badly is small (2-3% of the
-- history) and is written only when a delivery dies or fails.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '10min';

-- squawk-ignore require-concurrent-index-creation
CREATE INDEX IF NOT EXISTS deliveries_finished_badly_idx ON deliveries (finished_at DESC) WHERE state IN ('dead', 'failed');
