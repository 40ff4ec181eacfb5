-- 0025: one key's backlog no longer holds back other keys' due deliveries (issue #15, head-of-line).
--
-- The lease takes the oldest due rows. When one endpoint has a large due backlog, the first rows of every
-- lease are its rows: with 5,000 due to an endpoint answering after 1 s, every slot of a default worker
-- leased 16 of them per round (its window, 128, is all 8 slots' batches), and a fast endpoint's new
-- deliveries, behind the backlog in due order, waited 30-41 s until it drained (docs/flow_control.md). The
-- second pass did not help either: it walks only the first `16 × batch + 256` due rows, all the backlog's.
--
-- Two changes, both bounded:
--   1. When one key holds more than half of the first due rows (read without locks, as a hint), the first
--      pass locks due rows of other keys first (`delivery_lease_other_keys`), up to half the batch, and
--      the due order fills the rest. So a key gets at least half of every batch, and the whole batch when
--      no other key is due. Nothing is locked only to be given up: a locked row waits for the lease to end,
--      and a round with a straggler may not end for a long time (a first version did give rows up, and
--      SpareSlotsTests caught fast deliveries locked behind a request held open).
--   2. A second pass whose walk reached its bound without filling the batch looks the same way past it,
--      skipping the keys found full.
--
-- Other keys are found without walking the backlog: a skip scan of deliveries_breaker_pending_idx, one
-- index descent per pending key (its earliest row says whether it is due), at most 32 keys per lease,
-- starting after the key the previous search of this session stopped at, so keys take turns when there
-- are more of them than one search visits.
--
-- delivery_lease is otherwise unchanged: as in 0023 and 0024 its text is taken from the catalogue and only
-- the named fragments are replaced (the migration fails if one is not found).

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

-- Due rows of keys other than p_skip (and not among p_taken), locked FOR NO KEY UPDATE SKIP LOCKED: at most
-- p_need rows from the first due keys found, visiting at most p_max_keys pending keys.
--
-- Every statement here must walk deliveries_breaker_pending_idx whatever the statistics say. Measured with
-- 300,000 due rows of one key inserted after the last ANALYZE (as in a burst before autovacuum comes
-- round): a plan that took the due index instead, with the key as a filter, read the whole backlog of the
-- key in front, 49-76 ms per lease. So each statement orders by the index's own columns, states "due" as a
-- row comparison only that index can serve, and sequential scans and sorts are priced out while the
-- function plans. Plans the session keeps are then the index's too (docs/benchmarks.md, "Tried and not
-- kept", for what a kept plan cost before). An empty breaker key ('') sorts first and is never found by
-- the search; its rows are leased in due order as before.
CREATE FUNCTION delivery_lease_other_keys(p_skip text[], p_taken bigint[], p_need integer, p_max_keys integer)
RETURNS bigint[]
LANGUAGE plpgsql
VOLATILE
SET search_path FROM CURRENT
SET enable_seqscan = off
SET enable_sort = off
AS $fn$
DECLARE
    -- Where the previous search of this session stopped (a session setting: behind a transaction pooler it
    -- is shared by the clients of one server connection, which only changes whose turn comes next).
    v_cursor text := nullif(current_setting('herald.lease_key_cursor', true), '');
    v_from text;
    v_keys text[];
    v_visited integer;
    v_last text;
    v_left integer := p_max_keys;
    v_ids bigint[] := '{}';
    v_got bigint[];
    v_round integer;
    v_fill integer;
    v_each integer;
    v_quiet text;
    v_found_any boolean := false;
BEGIN
    IF p_need <= 0 THEN
        RETURN v_ids;
    END IF;
    -- A search of this session that skipped the same single key found no other key due less than 100 ms
    -- ago: do not search again yet. One endpoint alone in the queue is the common case, and a search
    -- every lease cost its drain about a tenth (docs/flow_control.md); a key that falls due meanwhile waits
    -- at most that much longer for the next search, of this slot or another.
    v_quiet := current_setting('herald.lease_quiet', true);
    IF cardinality(p_skip) = 1 AND coalesce(v_quiet, '') <> ''
       AND substr(v_quiet, strpos(v_quiet, ' ') + 1) = p_skip[1]
       AND split_part(v_quiet, ' ', 1)::bigint > (extract(epoch FROM clock_timestamp()) * 1000)::bigint THEN
        RETURN v_ids;
    END IF;
    -- Round 1: the keys after the cursor; round 2, if round 1 reached the last key: from the first up to it.
    FOR v_round IN 1..2 LOOP
        EXIT WHEN v_round = 2 AND v_cursor IS NULL;
        v_from := CASE WHEN v_round = 1 THEN coalesce(v_cursor, '') ELSE '' END;
        -- The skip scan: each step is one descent of (breaker_key, next_attempt_at) to the next key's
        -- earliest pending row. It stops after v_left keys or once it has found p_need due keys.
        WITH RECURSIVE walk (key, due, depth, found) AS (
            (SELECT d.breaker_key, d.next_attempt_at <= now(), 1,
                    CASE WHEN d.next_attempt_at <= now() AND d.breaker_key <> ALL (p_skip) THEN 1 ELSE 0 END
             FROM deliveries d
             WHERE d.state = 'pending' AND d.breaker_key > v_from
             ORDER BY d.breaker_key, d.next_attempt_at
             LIMIT 1)
            UNION ALL
            SELECT n.breaker_key, n.next_attempt_at <= now(), w.depth + 1,
                   w.found + CASE WHEN n.next_attempt_at <= now() AND n.breaker_key <> ALL (p_skip) THEN 1 ELSE 0 END
            FROM walk w
            CROSS JOIN LATERAL (
                SELECT d.breaker_key, d.next_attempt_at FROM deliveries d
                WHERE d.state = 'pending' AND d.breaker_key > w.key
                ORDER BY d.breaker_key, d.next_attempt_at
                LIMIT 1) n
            WHERE w.depth < v_left AND w.found < p_need AND (v_round = 1 OR w.key < v_cursor)
        )
        SELECT array_agg(w.key ORDER BY w.depth)
                   FILTER (WHERE w.due AND w.key <> ALL (p_skip) AND (v_round = 1 OR w.key <= v_cursor)),
               count(*)::int, (array_agg(w.key ORDER BY w.depth DESC))[1]
        INTO v_keys, v_visited, v_last
        FROM walk w;
        v_found_any := v_found_any OR v_keys IS NOT NULL;
        -- An even share for each key found (at least one row), so that one key cannot take every place;
        -- then, if rows are still wanted, whatever those keys have.
        FOR v_fill IN 1..2 LOOP
            EXIT WHEN v_keys IS NULL OR cardinality(v_ids) >= p_need;
            v_each := CASE WHEN v_fill = 1 THEN greatest(1, (p_need - cardinality(v_ids)) / cardinality(v_keys))
                           ELSE p_need - cardinality(v_ids) END;
            SELECT array_agg(x.id) INTO v_got FROM (
                SELECT r.id FROM unnest(v_keys) AS k(key)
                CROSS JOIN LATERAL (
                    SELECT d.id FROM deliveries d
                    -- The key's due rows as one range of its index, written so that nothing else can serve
                    -- them: with `breaker_key = k.key` the order by key is implied and the due index, the key a
                    -- mere filter, looked as good to the planner (35 ms a call in a drain of 10 keys × 5,000,
                    -- reading the other keys' rows); with `next_attempt_at <= now()` it looked cheaper to a
                    -- plan made on stale statistics.
                    WHERE d.state = 'pending'
                      AND (d.breaker_key, d.next_attempt_at) >= (k.key, '-infinity'::timestamptz)
                      AND (d.breaker_key, d.next_attempt_at) <= (k.key, now())
                      AND d.id <> ALL (p_taken) AND d.id <> ALL (v_ids)
                    ORDER BY d.breaker_key, d.next_attempt_at
                    LIMIT v_each
                    FOR NO KEY UPDATE SKIP LOCKED) r
                LIMIT p_need - cardinality(v_ids)) x;
            v_ids := v_ids || coalesce(v_got, '{}');
        END LOOP;
        IF v_last IS NOT NULL THEN
            PERFORM set_config('herald.lease_key_cursor', v_last, false);
        END IF;
        v_left := v_left - v_visited;
        -- Round 2 only if round 1 ran out of keys: not if it found enough of them or used up its visits.
        EXIT WHEN v_round = 2 OR cardinality(v_ids) >= p_need OR v_left <= 0
                  OR coalesce(cardinality(v_keys), 0) >= p_need;
    END LOOP;
    IF cardinality(p_skip) = 1 AND NOT v_found_any AND v_left > 0 THEN
        PERFORM set_config('herald.lease_quiet',
                           ((extract(epoch FROM clock_timestamp()) * 1000)::bigint + 100) || ' ' || p_skip[1], false);
    END IF;
    RETURN v_ids;
END
$fn$;

DO $do$
DECLARE
    -- The fragments, each found exactly once in the function's text, and what replaces them.
    v_old constant text[] := ARRAY[
        -- the declarations
        $o1$    v_walk record;
BEGIN$o1$,
        -- the end of the first pass
        $o2$            SELECT array_agg(x.id) INTO v_ids FROM (
                SELECT d.id FROM deliveries d
                WHERE d.state = 'pending' AND d.next_attempt_at <= now()
                ORDER BY d.next_attempt_at
                LIMIT p_limit
                FOR NO KEY UPDATE SKIP LOCKED) x;
        ELSE$o2$,
        -- the walk's filter
        $o3$                CONTINUE WHEN v_walk.breaker_key = ANY (v_full) OR v_walk.id = ANY (v_taken);$o3$,
        -- the end of the walk
        $o4$            END LOOP;
        END IF;
        EXIT WHEN v_ids IS NULL;$o4$
    ];
    v_new constant text[] := ARRAY[
        $n1$    v_walk record;
    v_walked integer := 0;
    v_dominant record;
    v_more bigint[];
BEGIN$n1$,
        $n2$            -- One key holds more than half of the first due rows: due rows of other keys are locked first, up to
            -- half the batch, and the due order fills the rest (migration 0025). The make-up is read without
            -- locks (rows in flight elsewhere included) so that no row is locked only to be given up: a locked
            -- row waits for this lease to end, and a round with a straggler may not end for a long time.
            v_more := '{}';
            IF p_limit >= 2 THEN
                -- The id is read too, though not needed, so that no index-only scan of the key index with a
                -- sort of every due row can stand in for the due index's first rows.
                SELECT u.key, count(*)::int AS n INTO v_dominant FROM (
                    SELECT d.id, d.breaker_key AS key FROM deliveries d
                    WHERE d.state = 'pending' AND d.next_attempt_at <= now()
                    ORDER BY d.next_attempt_at
                    LIMIT p_limit) u
                GROUP BY u.key ORDER BY 2 DESC LIMIT 1;
                IF v_dominant.n > p_limit / 2 THEN
                    v_more := delivery_lease_other_keys(ARRAY[v_dominant.key], '{}', p_limit / 2, 32);
                END IF;
            END IF;
            SELECT array_agg(x.id) INTO v_ids FROM (
                SELECT d.id FROM deliveries d
                WHERE d.state = 'pending' AND d.next_attempt_at <= now() AND d.id <> ALL (v_more)
                ORDER BY d.next_attempt_at
                LIMIT p_limit - cardinality(v_more)
                FOR NO KEY UPDATE SKIP LOCKED) x;
            IF cardinality(v_more) > 0 THEN
                v_ids := coalesce(v_ids, '{}') || v_more;
            END IF;
        ELSE$n2$,
        $n3$                v_walked := v_walked + 1;
                CONTINUE WHEN v_walk.breaker_key = ANY (v_full) OR v_walk.id = ANY (v_taken);$n3$,
        $n4$            END LOOP;
            -- The walk reached its bound without filling the batch: look past it for other keys' due rows,
            -- skipping the keys found full (migration 0025).
            IF v_walked >= p_walk AND coalesce(cardinality(v_ids), 0) < p_limit - v_count THEN
                v_more := delivery_lease_other_keys(v_full, v_taken || coalesce(v_ids, '{}'),
                                                    p_limit - v_count - coalesce(cardinality(v_ids), 0), 32);
                IF cardinality(v_more) > 0 THEN
                    v_ids := coalesce(v_ids, '{}') || v_more;
                END IF;
            END IF;
        END IF;
        EXIT WHEN v_ids IS NULL;$n4$
    ];
    v_def text;
    i integer;
BEGIN
    SELECT pg_get_functiondef(p.oid) INTO STRICT v_def FROM pg_proc p
    WHERE p.pronamespace = current_schema()::regnamespace AND p.proname = 'delivery_lease';
    FOR i IN 1..cardinality(v_old) LOOP
        IF strpos(v_def, v_old[i]) = 0 THEN
            RAISE EXCEPTION 'delivery_lease does not contain fragment % that migration 0025 replaces', i;
        END IF;
        IF strpos(substr(v_def, strpos(v_def, v_old[i]) + 1), v_old[i]) > 0 THEN
            RAISE EXCEPTION 'delivery_lease contains fragment % of migration 0025 more than once', i;
        END IF;
        v_def := replace(v_def, v_old[i], v_new[i]);
    END LOOP;
    EXECUTE v_def;
END
$do$;
