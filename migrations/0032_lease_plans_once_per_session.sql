-- 0032: the lease's functions plan their statements once per session, and none of them keeps a plan that
-- scans a table sequentially because it was small when the plan was made (issue #15).
--
-- Statements inside PL/pgSQL are prepared once per session, but with PostgreSQL's default plan_cache_mode
-- (auto) a statement is planned anew on every call for as long as its plan for the call's values looks
-- cheaper than the plan for any values. Most of the lease's statements take arrays of ids (`= ANY (v_ids)`),
-- whose plan for a one-element array always looks cheaper, so they were planned on every lease. Measured with
-- pg_stat_statements (track = all, track_planning) during 256 slots of batch 1 against the 200 ms endpoint:
-- lease_rows', lease_attempt_history's, delivery_lease's and delivery_lease_other_keys' statements were
-- planned on almost every call: about 27 s of planning, waits included, in 5 s of run. Planning opens every
-- index of every table it plans for, each an AccessShareLock past the 16 a session takes without the lock
-- manager, and that is where the LWLock:LockManager waits were. The run delivered 411/s; with the functions
-- set to force_generic_plan, each statement was planned about once per connection and it delivered 499/s
-- (pg_stat_statements loaded in both runs, 0031 in both).
--
-- The trap of a plan made once (docs/benchmarks.md, "Tried and not kept"): a plan made while a table was
-- small may scan it sequentially, and it stays in use as the table grows until ANALYZE invalidates it. It was
-- not only a trap of forced generic plans: with the default (auto), the plan cache also settles on a generic
-- plan for some statements after five calls. Measured by hand (a session leased 8 times on a schema of 10
-- deliveries, then 300,000 due deliveries and 300,000 attempts arrived with autovacuum off, and the same
-- session leased again): with auto, the lease took 26-66 ms a call (delivery_lease's per-key statement and
-- lease_rows' two statements had sequential plans on deliveries and attempts), a fresh session 0.7-0.9 ms;
-- with force_generic_plan alone the same. So the functions also forbid sequential scans, and JIT, which the
-- priced-out costs would otherwise trigger (0026: 200 ms a call compiling): with those and forced generic
-- plans on all four, the same session took 0.27-0.58 ms a call after the 300,000 arrived, and 0.24-0.29 ms
-- before (auto: 0.6-0.8 ms).
--
-- Every statement of the four functions reads by a key or walks an index in its own order (the due order,
-- a key's range, ids); a table with no index for a statement is still scanned, sequential scans are only
-- priced out. delivery_lease_other_keys already ran this way (0025) and keeps its own settings.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

-- delivery_lease's three backlog moves select one key's rows (`breaker_key = k.breaker_key`), and a plan for
-- any key walks deliveries_due_idx with the key as a filter (checked with EXPLAIN of the generic plan, 12,000
-- due rows of 9 keys), which for a rare key behind a long queue reads the whole due range (and a plan for the
-- call's key can do the same with stale statistics, as 0025 found). They move to a function of their own that
-- reads the key's rows as one range of deliveries_breaker_pending_idx in that index's own order, with sorts
-- and sequential scans priced out as in delivery_lease_other_keys (0025), so that no statistics can make it
-- walk another index; delivery_lease, edited from its catalogue text as 0031 did, calls it.
CREATE FUNCTION delivery_lease_move(p_key text, p_until timestamptz, p_strict boolean, p_to timestamptz)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path FROM CURRENT
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_sort = off
SET jit = off
AS $fn$
DECLARE
    v_moved integer;
BEGIN
    -- The key's pending rows due before p_until (up to and including it unless p_strict), at most 500 of
    -- them in due order, are due at p_to instead; rows another transaction holds are skipped.
    IF p_strict THEN
        UPDATE deliveries SET next_attempt_at = p_to, updated_at = now()
        WHERE id IN (SELECT x.id FROM deliveries x
                     WHERE x.state = 'pending'
                       AND (x.breaker_key, x.next_attempt_at) >= (p_key, '-infinity'::timestamptz)
                       AND (x.breaker_key, x.next_attempt_at) < (p_key, p_until)
                     ORDER BY x.breaker_key, x.next_attempt_at
                     LIMIT 500
                     FOR UPDATE SKIP LOCKED);
    ELSE
        UPDATE deliveries SET next_attempt_at = p_to, updated_at = now()
        WHERE id IN (SELECT x.id FROM deliveries x
                     WHERE x.state = 'pending'
                       AND (x.breaker_key, x.next_attempt_at) >= (p_key, '-infinity'::timestamptz)
                       AND (x.breaker_key, x.next_attempt_at) <= (p_key, p_until)
                     ORDER BY x.breaker_key, x.next_attempt_at
                     LIMIT 500
                     FOR UPDATE SKIP LOCKED);
    END IF;
    GET DIAGNOSTICS v_moved = ROW_COUNT;
    RETURN v_moved;
END
$fn$;

DO $do$
DECLARE
    v_edits constant text[][] := ARRAY[
        ARRAY[$p$UPDATE deliveries SET next_attempt_at = k\.held_until, updated_at = now\(\)\s+WHERE id IN \(SELECT x\.id FROM deliveries x\s+WHERE x\.breaker_key = k\.breaker_key AND x\.state = 'pending' AND x\.next_attempt_at < k\.held_until\s+ORDER BY x\.next_attempt_at\s+LIMIT 500\s+FOR UPDATE SKIP LOCKED\);\s+GET DIAGNOSTICS v_moved = ROW_COUNT;$p$,
              $r$v_moved := delivery_lease_move(k.breaker_key, k.held_until, true, k.held_until);$r$],
        ARRAY[$p$UPDATE deliveries SET next_attempt_at = now\(\) \+ make_interval\(secs => p_probe_wait_ms / 1000\.0\),\s+updated_at = now\(\)\s+WHERE id IN \(SELECT x\.id FROM deliveries x\s+WHERE x\.breaker_key = k\.breaker_key AND x\.state = 'pending' AND x\.next_attempt_at <= now\(\)\s+ORDER BY x\.next_attempt_at\s+LIMIT 500\s+FOR UPDATE SKIP LOCKED\);\s+GET DIAGNOSTICS v_moved = ROW_COUNT;$p$,
              $r$v_moved := delivery_lease_move(k.breaker_key, now(), false, now() + make_interval(secs => p_probe_wait_ms / 1000.0));$r$],
        ARRAY[$p$UPDATE deliveries SET next_attempt_at = k\.head_due, updated_at = now\(\)\s+WHERE id IN \(SELECT x\.id FROM deliveries x\s+WHERE x\.breaker_key = k\.breaker_key AND x\.state = 'pending' AND x\.next_attempt_at <= now\(\)\s+ORDER BY x\.next_attempt_at\s+LIMIT 500\s+FOR UPDATE SKIP LOCKED\);$p$,
              $r$PERFORM delivery_lease_move(k.breaker_key, now(), false, k.head_due);$r$]];
    v_def text;
    i integer;
BEGIN
    SELECT pg_get_functiondef('delivery_lease(integer, integer, integer, integer, integer, bigint[])'::regprocedure) INTO STRICT v_def;
    FOR i IN 1..array_length(v_edits, 1) LOOP
        IF (SELECT count(*) FROM regexp_matches(v_def, v_edits[i][1], 'g')) <> 1 THEN
            RAISE EXCEPTION 'delivery_lease does not move backlogs as migration 0032 expects: % found % times',
                v_edits[i][1], (SELECT count(*) FROM regexp_matches(v_def, v_edits[i][1], 'g'));
        END IF;
        v_def := regexp_replace(v_def, v_edits[i][1], v_edits[i][2]);
    END LOOP;
    EXECUTE v_def;
END
$do$;

ALTER FUNCTION delivery_lease(integer, integer, integer, integer, integer, bigint[])
    SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off;
ALTER FUNCTION delivery_lease_other_keys(text[], bigint[], integer, integer, integer, integer)
    SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION lease_rows(bigint[], integer, integer, integer)
    SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off;
ALTER FUNCTION lease_attempt_history(bigint[])
    SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off;
