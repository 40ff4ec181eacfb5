-- 0032: the lease's functions plan their statements once per session (issue #15, many slots).
--
-- Statements inside PL/pgSQL are prepared once per session, but with PostgreSQL's default plan_cache_mode
-- (auto) a statement is planned anew on every call for as long as its plan for the call's values looks
-- cheaper than the plan for any values. Most of the lease's statements take arrays of ids (`= ANY (v_ids)`),
-- whose plan for a one-element array always looks cheaper, so they were planned on every lease. Measured with
-- pg_stat_statements (track = all, track_planning) during 256 slots of batch 1 against the 200 ms endpoint:
-- lease_rows', lease_attempt_history's, delivery_lease's and delivery_lease_other_keys' statements were
-- planned on almost every call: about 27 s of planning, waits included, in 5 s of run. Planning opens every
-- index of every table it plans for, each an AccessShareLock past the 16 a session takes without the lock
-- manager, and that is where the LWLock:LockManager waits were. The run delivered 411/s. With the four
-- functions set to force_generic_plan, each statement was planned about once per connection and the run
-- delivered 499/s (pg_stat_statements loaded in both runs, 0031 in both).
--
-- A generic plan does not know the values, so each statement was checked for one that would scan: the due
-- order's three statements with a LIMIT parameter walk deliveries_due_idx (ORDER BY next_attempt_at, the
-- limit's estimate is 10% of due rows, still an index walk; checked with 20,000 due and 50,000 finished
-- rows), the id-array statements are primary-key lookups, and delivery_lease_other_keys already rules out
-- sequential scans and sorts. A plan is still rebuilt when ANALYZE changes a table's statistics.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

ALTER FUNCTION delivery_lease(integer, integer, integer, integer, integer, bigint[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION delivery_lease_other_keys(text[], bigint[], integer, integer, integer, integer) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION lease_rows(bigint[], integer, integer, integer) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION lease_attempt_history(bigint[]) SET plan_cache_mode = force_generic_plan;
