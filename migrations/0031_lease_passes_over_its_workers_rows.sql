-- 0031: the lease is told which deliveries the worker's own slots hold, and passes over them without trying
-- their row locks (issue #15, many slots).
--
-- A slot holds its rows locked across its sends, so the rows in flight are the oldest due rows: the head of
-- the due index. Every lease walks that index from the head and steps over each of them (SKIP LOCKED), and
-- stepping over a locked row is not free: the row's tuple lock and its locker's transaction are tried in the
-- lock manager. With S slots in flight each lease steps over about S rows, so the worker's lease cost grows
-- with S² and past about 128 slots of batch 1 the slots mostly wait on LWLock:LockManager (measured in
-- docs/benchmarks.md section 4b: at 256 slots an average of 14.5 connections waited there). Measured by
-- hand (pgbench, 8 clients, 10,000 due rows, one session holding the first 200 locked): the lease's first
-- statement took 1.23 ms a call stepping over them, 0.40 ms when it was given their ids and filtered them
-- before locking.
--
-- The worker knows which rows its own slots leased, so it passes their ids (p_held); rows held by other
-- workers, and rows a lease locks without leasing them (a backlog moved, a row without a permit), are still
-- stepped over as before. Passing a row that is no longer held (its round committed
-- after the worker read the set) only leaves it for the next lease, as a lock would have. The ids are
-- filtered before any lock in the three places that read the due index from its head: the make-up read of
-- 0025, the first pass, and the walk of 0018 (whose bound p_walk now counts rows it could lock, not the
-- worker's own in flight).
--
-- delivery_lease is created with the new argument from its own text in the catalogue, five places
-- replaced (the migration fails if any is not found exactly once), as 0023, 0024 and 0029 did. The
-- five-argument function stays for workers of the previous release during a rolling upgrade, as a wrapper
-- that passes no ids, so that there is one body. A later migration that edits delivery_lease by its text
-- must pick the six-argument one by signature: the name alone now matches two functions.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

DO $do$
DECLARE
    -- (pattern, replacement): each pattern must match exactly once.
    v_edits constant text[][] := ARRAY[
        ARRAY['p_probe_wait_ms integer\)', 'p_probe_wait_ms integer, p_held bigint[])'],
        -- NULL would exclude every row (id <> ALL (NULL) is NULL).
        ARRAY['FOR v_pass IN 1\.\.2 LOOP', 'p_held := coalesce(p_held, ''{}'');' || E'\n    ' || 'FOR v_pass IN 1..2 LOOP'],
        ARRAY['(AS key FROM deliveries d\s+WHERE d\.state = ''pending'' AND d\.next_attempt_at <= now\(\))',
              '\1 AND d.id <> ALL (p_held)'],
        ARRAY['AND d\.id <> ALL \(v_more\)', 'AND d.id <> ALL (v_more) AND d.id <> ALL (p_held)'],
        ARRAY['(WHERE c\.state = ''pending'' AND c\.next_attempt_at <= now\(\))', '\1 AND c.id <> ALL (p_held)']];
    v_def text;
    i integer;
BEGIN
    SELECT pg_get_functiondef(p.oid) INTO STRICT v_def FROM pg_proc p
    WHERE p.pronamespace = current_schema()::regnamespace AND p.proname = 'delivery_lease';
    FOR i IN 1..array_length(v_edits, 1) LOOP
        -- Counted with regexp_matches, not regexp_count (PostgreSQL 15 and later only).
        IF (SELECT count(*) FROM regexp_matches(v_def, v_edits[i][1], 'g')) <> 1 THEN
            RAISE EXCEPTION 'delivery_lease does not read as migration 0031 expects: % found % times',
                v_edits[i][1], (SELECT count(*) FROM regexp_matches(v_def, v_edits[i][1], 'g'));
        END IF;
        v_def := regexp_replace(v_def, v_edits[i][1], v_edits[i][2]);
    END LOOP;
    EXECUTE v_def;
END
$do$;

-- The previous release's call: the same lease, no ids passed.
CREATE OR REPLACE FUNCTION delivery_lease(p_limit integer, p_walk integer, p_default_cap integer, p_threshold integer,
                                          p_probe_wait_ms integer)
RETURNS TABLE (lease_id bigint, lease_probe boolean, backlog_key text, backlog_until timestamptz, lease_excess integer)
LANGUAGE sql
VOLATILE
ROWS 16
SET search_path FROM CURRENT
AS $fn$
    SELECT * FROM delivery_lease(p_limit, p_walk, p_default_cap, p_threshold, p_probe_wait_ms, '{}'::bigint[])
$fn$;
