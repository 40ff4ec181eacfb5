-- 0022: vacuum the deliveries table by a fixed count of dead rows, not a fraction of it (issue #15).
--
-- Every completion leaves a dead row version (a non-HOT update: `state` is in the partial indexes'
-- predicates), and the lease walks the head of the due index, where those versions pile up until a
-- vacuum removes them. With PostgreSQL's defaults a table is vacuumed once 20% of it is dead: 6,000 rows
-- of a fresh 30,000-row queue, 2 million rows of a 10-million-row kept history, i.e. practically never
-- for the few pending rows that matter. Measured (soak probe, 946 enqueues/s, one default worker, a
-- receiver failing 5%, a fresh table): with the server's defaults the lease took 1-10 s once about
-- 20,000 dead versions had piled up, the worker finished 30-100/s for 40 s and 35,000 deliveries queued
-- up until the first autovacuum, a minute in; with `autovacuum_naptime = 5s` it kept up (750-1,020/s
-- finished, under 900 pending) from the first second, with or without these settings. They matter once
-- the table is large: 20% of a kept history is far more dead rows than the lease can walk past.
--
-- These are per-table storage parameters. How often autovacuum looks at the database at all is the
-- server's `autovacuum_naptime` (default 1 min), which Herald cannot set: docs/operations in README says
-- to lower it for a busy queue.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

ALTER TABLE deliveries SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 2000,
    autovacuum_vacuum_cost_delay = 0
);
