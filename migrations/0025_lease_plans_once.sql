-- 0025: the lease plans its statements once per connection instead of on every call (issue #15).
--
-- PL/pgSQL caches each statement's plan, but a statement with variables (the lease's batch of ids, a key,
-- a window) is planned afresh for its values on every call unless PostgreSQL judges a generic plan as
-- cheap as the custom ones, and for the lease's per-key statement (one row per key of the batch: its
-- window, its cap, its permits to take) it never did. Measured with pg_stat_statements (track = all,
-- track_planning = on) on the bench machine, 10 s at 650 enqueues/s and one default worker: that
-- statement was planned on each of its 1,495 calls at 0.98 ms each, four times its 0.23 ms of execution;
-- the lease took 2.55 ms a call. With generic plans it is planned once per connection (33 plans in the same
-- window) and the lease takes 1.86 ms a call.
--
-- The generic plans use the same indexes: every statement looks rows up by primary key (the batch's ids),
-- by the due index's head or by a key's pending index, none by a value whose frequency would change the
-- plan. CircuitBreakerTests.cheapLeaseBehindOpenBreaker counts the buffers of a lease behind an open
-- breaker with a large backlog and fails if a plan scans it.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

ALTER FUNCTION delivery_lease(integer, integer, integer, integer, integer) SET plan_cache_mode = force_generic_plan;
