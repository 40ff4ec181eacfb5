-- 0029: the search for other keys' due rows (0026) takes no more of a key than its window, the worker's
-- own cap and threshold included (issue #15, a review of 0026).
--
-- Two faults of 0026's delivery_lease_other_keys:
--   1. A key's window was judged from what a row can show (the endpoint's max_in_flight and threshold, the
--      breaker's send window), not from the worker's own --max-in-flight-per-endpoint and
--      --breaker-threshold, which only delivery_lease is given. With either at 1, keys got an even share,
--      not their head: with the head in flight elsewhere, the rows behind it were locked, unsendable, and
--      held until the round ended, as before 0026.
--   2. A key with a window of 2 or more could get more rows than its window: an even share, then the places
--      left over. delivery_lease takes permits up to the window and leaves the rest locked, unsent, until
--      the round ends; another slot could have sent them once a permit came free.
--
-- The search now has the worker's cap and threshold (two more arguments) and computes each key's window as
-- delivery_lease does. A key of window 0 or 1 gets its head (delivery_lease then moves the backlog of a key
-- held back, as before); a wider key gets at most its window over the whole search, less the rows of it
-- the lease took before calling the search (p_taken). Not bounded: the permits other rounds hold, which the
-- search cannot see without reading the lock table (a key at its window elsewhere can still get rows it
-- cannot send, now at most a window's worth), and the rows the due order adds after the first search of a
-- lease (up to the rest of the batch, as before 0025).
--
-- delivery_lease is changed only where it calls the search: its text is taken from the catalogue and the two
-- calls replaced (the migration fails if either is not found), as 0023 and 0024 did. The four-argument
-- search is dropped: nothing else calls it.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

-- Due rows of keys other than p_skip (and not among p_taken), locked FOR NO KEY UPDATE SKIP LOCKED: at most
-- p_need rows, visiting at most p_max_keys pending keys, starting after the last key the previous search of
-- this session served. p_default_cap and p_threshold are the worker's window cap and breaker threshold for
-- endpoints that set none (delivery_lease's own arguments).
--
-- As in 0025, every statement walks deliveries_breaker_pending_idx whatever the statistics say (the range
-- conditions and the ordering by the index's own columns; sequential scans and sorts priced out), and no
-- row is locked only to be given up: each lock statement's LIMIT stops the scan at the rows it keeps. An
-- empty breaker key ('') sorts first and is never found by the search; its rows are leased in due order as
-- before (enqueue never makes one: a key is the endpoint's own or 'endpoint:<id>').
CREATE FUNCTION delivery_lease_other_keys(p_skip text[], p_taken bigint[], p_need integer, p_max_keys integer,
                                          p_default_cap integer, p_threshold integer)
RETURNS bigint[]
LANGUAGE plpgsql
VOLATILE
SET search_path FROM CURRENT
SET enable_seqscan = off
SET enable_sort = off
-- Costs priced out as above run past jit_above_cost: a first version of this function spent 320-390 ms a
-- call compiling one of its statements (JIT), in a head-of-line probe 140 ms a call on average.
SET jit = off
AS $fn$
DECLARE
    -- Where the previous search of this session stopped (a session setting: behind a transaction pooler it
    -- is shared by the clients of one server connection, which only changes whose turn comes next).
    v_cursor text := nullif(current_setting('herald.lease_key_cursor', true), '');
    -- The walk goes from v_from to the end of the index, then, if it started at a cursor, from the first
    -- key up to the cursor (v_upper); v_done once it has come round.
    v_from text;
    v_upper text := NULL;
    v_wrapped boolean;
    v_done boolean := false;
    v_left integer := p_max_keys;
    v_want integer;
    v_want_keys integer;
    v_ids bigint[] := '{}';
    v_keys text[];        -- due keys found by this step's walk, in walk order …
    v_heads bigint[];     -- … and each one's earliest pending row
    v_step_keys text[];
    v_step_heads bigint[];
    v_narrow_ids bigint[];
    v_wide text[];
    v_wide_win integer[];       -- what is left of each wide key's window (delivery_lease's) …
    v_all_wide text[] := '{}';
    v_all_wide_win integer[] := '{}';
    v_all_wide_given integer[] := '{}';  -- … and the rows this search gave it
    v_taken_keys text[];        -- keys of the rows the lease took before this search …
    v_taken_counts integer[];   -- … and how many each: they count toward the key's window
    v_visited integer;
    v_last text;
    v_seen text;
    v_served text;
    v_got bigint[];
    v_got_keys text[];
    v_step_served text[];
    v_each integer;
    v_quiet text;
    v_found_any boolean := false;
    i integer;
BEGIN
    IF p_need <= 0 THEN
        RETURN v_ids;
    END IF;
    -- As in 0025: a search of this session that skipped the same single key found no other key due less
    -- than 100 ms ago, so do not search again yet (one endpoint alone in the queue is the common case).
    v_quiet := current_setting('herald.lease_quiet', true);
    IF cardinality(p_skip) = 1 AND coalesce(v_quiet, '') <> ''
       AND substr(v_quiet, strpos(v_quiet, ' ') + 1) = p_skip[1]
       AND split_part(v_quiet, ' ', 1)::bigint > (extract(epoch FROM clock_timestamp()) * 1000)::bigint THEN
        RETURN v_ids;
    END IF;
    IF cardinality(p_taken) > 0 THEN
        SELECT array_agg(t.breaker_key), array_agg(t.n) INTO v_taken_keys, v_taken_counts FROM (
            SELECT d.breaker_key, count(*)::int AS n FROM deliveries d WHERE d.id = ANY (p_taken) GROUP BY d.breaker_key) t;
    END IF;
    v_from := coalesce(v_cursor, '');
    v_wrapped := v_cursor IS NULL;
    -- Each step finds as many due keys as rows are still wanted (at least 8), then locks: the heads of keys that may
    -- have one request open, an even share of the others' due rows. A step that locked less (keys whose
    -- rows are in flight) is followed by another, from where the walk stopped.
    LOOP
        v_want := p_need - cardinality(v_ids);
        EXIT WHEN v_want <= 0 OR v_left <= 0 OR v_done;
        v_keys := '{}';
        v_heads := '{}';
        -- At least 8 keys a step, though fewer places are wanted: keys past the places are not served (the
        -- lock statements stop at the places), and they come first in the next search, which starts after
        -- the last key served; with every key in flight a step of one key at a time cost ~100 statements.
        v_want_keys := greatest(v_want, 8);
        LOOP
            EXIT WHEN cardinality(v_keys) >= v_want_keys OR v_left <= 0 OR v_done;
            -- The skip scan: one descent of (breaker_key, next_attempt_at) per key, to its earliest pending
            -- row. It stops after v_left keys, once it has found the keys still wanted, or at v_upper.
            WITH RECURSIVE walk (key, head, due, depth, found) AS (
                (SELECT d.breaker_key, d.id, d.next_attempt_at <= now(), 1,
                        CASE WHEN d.next_attempt_at <= now() AND d.breaker_key <> ALL (p_skip)
                                  AND (v_upper IS NULL OR d.breaker_key <= v_upper) THEN 1 ELSE 0 END
                 FROM deliveries d
                 WHERE d.state = 'pending' AND d.breaker_key > v_from
                 ORDER BY d.breaker_key, d.next_attempt_at
                 LIMIT 1)
                UNION ALL
                SELECT n.breaker_key, n.id, n.next_attempt_at <= now(), w.depth + 1,
                       w.found + CASE WHEN n.next_attempt_at <= now() AND n.breaker_key <> ALL (p_skip)
                                           AND (v_upper IS NULL OR n.breaker_key <= v_upper) THEN 1 ELSE 0 END
                FROM walk w
                CROSS JOIN LATERAL (
                    SELECT d.breaker_key, d.id, d.next_attempt_at FROM deliveries d
                    WHERE d.state = 'pending' AND d.breaker_key > w.key
                    ORDER BY d.breaker_key, d.next_attempt_at
                    LIMIT 1) n
                WHERE w.depth < v_left AND w.found < v_want_keys - cardinality(v_keys)
                  AND (v_upper IS NULL OR w.key < v_upper)
            )
            SELECT array_agg(w.key ORDER BY w.depth) FILTER (WHERE w.due AND w.key <> ALL (p_skip)
                                                               AND (v_upper IS NULL OR w.key <= v_upper)),
                   array_agg(w.head ORDER BY w.depth) FILTER (WHERE w.due AND w.key <> ALL (p_skip)
                                                                AND (v_upper IS NULL OR w.key <= v_upper)),
                   count(*)::int, (array_agg(w.key ORDER BY w.depth DESC))[1]
            INTO v_step_keys, v_step_heads, v_visited, v_last
            FROM walk w;
            IF v_visited = 0 THEN
                -- The end of the index: go round to the first key, up to the cursor, once.
                IF v_wrapped THEN
                    v_done := true;
                ELSE
                    v_wrapped := true;
                    v_upper := v_cursor;
                    v_from := '';
                END IF;
                CONTINUE;
            END IF;
            v_left := v_left - v_visited;
            v_from := v_last;
            v_seen := v_last;
            v_keys := v_keys || coalesce(v_step_keys, '{}');
            v_heads := v_heads || coalesce(v_step_heads, '{}');
            v_done := v_upper IS NOT NULL AND v_last >= v_upper;
        END LOOP;
        EXIT WHEN cardinality(v_keys) = 0;
        v_found_any := true;
        -- Keys that may have one request open get their head or nothing: a row behind a head in flight
        -- elsewhere could not be sent by this lease and would only be held until its round ends. A key's
        -- window is delivery_lease's, the worker's own cap and threshold (p_default_cap, p_threshold)
        -- included, which 0026 could not see; an ordered endpoint's head is its oldest pending delivery by
        -- id, as delivery_lease leases it, not the key's earliest due row.
        -- An ordered endpoint whose head waits for its retry gets its earliest due row instead: it is not
        -- sent, and delivery_lease moves the endpoint's due rows to the head's time, out of the way of the
        -- search and the due order (else the key would be found on every search, never cleared).
        SELECT array_agg(CASE WHEN c.ordered
                              THEN (SELECT CASE WHEN o.next_attempt_at <= now() THEN o.id ELSE f.head END
                                    FROM deliveries o
                                    WHERE o.endpoint_id = c.endpoint_id AND o.state = 'pending'
                                    ORDER BY o.id LIMIT 1)
                              ELSE f.head END ORDER BY f.nth) FILTER (WHERE c.win <= 1),
               array_agg(f.key ORDER BY f.nth) FILTER (WHERE c.win > 1),
               -- What is left of the window once the rows the lease took before this search are counted.
               array_agg(greatest(0, c.win - coalesce((SELECT t.n FROM unnest(v_taken_keys, v_taken_counts) AS t(key, n)
                                                       WHERE t.key = f.key), 0)) ORDER BY f.nth) FILTER (WHERE c.win > 1)
        INTO v_narrow_ids, v_wide, v_wide_win
        FROM unnest(v_keys, v_heads) WITH ORDINALITY AS f(key, head, nth)
        CROSS JOIN LATERAL (
            SELECT h.endpoint_id, s.ordered,
                   CASE
                       WHEN b.deferred_until > now() OR b.state = 'open' THEN 0
                       WHEN coalesce(b.consecutive_failures, 0) > 1 OR s.ordered THEN 1
                       ELSE least(coalesce(b.send_window, e.breaker_failure_threshold, p_threshold),
                                  coalesce(s.max_in_flight, p_default_cap))
                   END AS win
            FROM deliveries h
            JOIN endpoints e ON e.id = h.endpoint_id
            LEFT JOIN circuit_breakers b ON b.key = f.key
            -- Endpoints sharing a key share its strictest rule (as in delivery_lease).
            CROSS JOIN LATERAL (
                SELECT e.max_in_flight, e.ordered WHERE e.breaker_key IS NULL
                UNION ALL
                SELECT min(x.max_in_flight), bool_or(x.ordered) FROM endpoints x
                WHERE e.breaker_key IS NOT NULL AND x.breaker_key = e.breaker_key
                HAVING count(*) > 0
            ) s
            WHERE h.id = f.head) c;
        v_step_served := '{}';
        IF v_narrow_ids IS NOT NULL THEN
            SELECT array_agg(x.id), array_agg(x.breaker_key) INTO v_got, v_got_keys FROM (
                SELECT d.id, d.breaker_key FROM deliveries d
                WHERE d.id = ANY (v_narrow_ids) AND d.state = 'pending' AND d.next_attempt_at <= now()
                  AND d.id <> ALL (p_taken) AND d.id <> ALL (v_ids)
                LIMIT v_want
                FOR NO KEY UPDATE SKIP LOCKED) x;
            v_ids := v_ids || coalesce(v_got, '{}');
            v_step_served := v_step_served || coalesce(v_got_keys, '{}');
        END IF;
        IF v_wide IS NOT NULL AND cardinality(v_ids) < p_need THEN
            -- An even share for each (at least one row), so that one key cannot take every place, and no
            -- more than its window: rows past it could not be sent by this lease (0026 locked them).
            v_each := greatest(1, (p_need - cardinality(v_ids)) / cardinality(v_wide));
            SELECT array_agg(x.id), array_agg(x.key) INTO v_got, v_got_keys FROM (
                SELECT r.id, k.key FROM unnest(v_wide, v_wide_win) AS k(key, win)
                CROSS JOIN LATERAL (
                    SELECT d.id FROM deliveries d
                    -- The key's due rows as one range of its index, so that nothing else can serve them
                    -- (0025: with `breaker_key = k.key` the planner took the due index, the key a filter).
                    WHERE d.state = 'pending'
                      AND (d.breaker_key, d.next_attempt_at) >= (k.key, '-infinity'::timestamptz)
                      AND (d.breaker_key, d.next_attempt_at) <= (k.key, now())
                      AND d.id <> ALL (p_taken) AND d.id <> ALL (v_ids)
                    ORDER BY d.breaker_key, d.next_attempt_at
                    LIMIT least(v_each, k.win)
                    FOR NO KEY UPDATE SKIP LOCKED) r
                LIMIT p_need - cardinality(v_ids)) x;
            v_ids := v_ids || coalesce(v_got, '{}');
            v_step_served := v_step_served || coalesce(v_got_keys, '{}');
            v_all_wide := v_all_wide || v_wide;
            v_all_wide_win := v_all_wide_win || v_wide_win;
            v_all_wide_given := v_all_wide_given
                || ARRAY(SELECT (SELECT count(*) FROM unnest(v_got_keys) g WHERE g = k.key)::int
                         FROM unnest(v_wide) WITH ORDINALITY AS k(key, nth) ORDER BY k.nth);
        END IF;
        -- The last key of this step, in walk order, that got a row.
        FOR i IN REVERSE cardinality(v_keys)..1 LOOP
            IF v_keys[i] = ANY (v_step_served) THEN
                v_served := v_keys[i];
                EXIT;
            END IF;
        END LOOP;
    END LOOP;
    -- Rows still wanted once every key found has had its share: whatever those keys have below their
    -- windows, in walk order. The next search then starts after the last key given more than its share, so
    -- the extra places go round the keys too.
    IF cardinality(v_ids) < p_need AND cardinality(v_all_wide) > 0 THEN
        SELECT array_agg(x.id), array_agg(x.key) INTO v_got, v_got_keys FROM (
            SELECT r.id, k.key FROM unnest(v_all_wide, v_all_wide_win, v_all_wide_given) AS k(key, win, given)
            CROSS JOIN LATERAL (
                SELECT d.id FROM deliveries d
                WHERE d.state = 'pending'
                  AND (d.breaker_key, d.next_attempt_at) >= (k.key, '-infinity'::timestamptz)
                  AND (d.breaker_key, d.next_attempt_at) <= (k.key, now())
                  AND d.id <> ALL (p_taken) AND d.id <> ALL (v_ids)
                ORDER BY d.breaker_key, d.next_attempt_at
                LIMIT least(p_need - cardinality(v_ids), k.win - k.given)
                FOR NO KEY UPDATE SKIP LOCKED) r
            LIMIT p_need - cardinality(v_ids)) x;
        v_ids := v_ids || coalesce(v_got, '{}');
        IF v_got_keys IS NOT NULL THEN
            FOR i IN REVERSE cardinality(v_all_wide)..1 LOOP
                IF v_all_wide[i] = ANY (v_got_keys) THEN
                    v_served := v_all_wide[i];
                    EXIT;
                END IF;
            END LOOP;
        END IF;
    END IF;
    -- The next search starts after the last key served here; if none was (every key found was in flight or
    -- not due), after the last key visited, so that it does not visit the same keys again.
    IF coalesce(v_served, v_seen) IS NOT NULL THEN
        PERFORM set_config('herald.lease_key_cursor', coalesce(v_served, v_seen), false);
    END IF;
    IF cardinality(p_skip) = 1 AND NOT v_found_any AND v_left > 0 THEN
        PERFORM set_config('herald.lease_quiet',
                           ((extract(epoch FROM clock_timestamp()) * 1000)::bigint + 100) || ' ' || p_skip[1], false);
    END IF;
    RETURN v_ids;
END
$fn$;

DO $do$
DECLARE
    v_calls constant text[] := ARRAY[
        'delivery_lease_other_keys(ARRAY[v_dominant.key], ''{}'', p_limit / 2, 32)',
        'p_limit - v_count - coalesce(cardinality(v_ids), 0), 32)'];
    v_def text;
    v_call text;
BEGIN
    SELECT pg_get_functiondef(p.oid) INTO STRICT v_def FROM pg_proc p
    WHERE p.pronamespace = current_schema()::regnamespace AND p.proname = 'delivery_lease';
    FOREACH v_call IN ARRAY v_calls LOOP
        IF strpos(v_def, v_call) = 0 OR strpos(substr(v_def, strpos(v_def, v_call) + 1), v_call) <> 0 THEN
            RAISE EXCEPTION 'delivery_lease does not call the search once as migration 0029 expects: %', v_call;
        END IF;
        v_def := replace(v_def, v_call, left(v_call, length(v_call) - 1) || ', p_default_cap, p_threshold)');
    END LOOP;
    EXECUTE v_def;
END
$do$;

-- Deliberate (squawk: ban-drop-function): only delivery_lease called it, and delivery_lease, replaced above in
-- this transaction, calls the new one; a worker of the previous release calls delivery_lease, not the search.
-- squawk-ignore ban-drop-function
DROP FUNCTION delivery_lease_other_keys(text[], bigint[], integer, integer);
