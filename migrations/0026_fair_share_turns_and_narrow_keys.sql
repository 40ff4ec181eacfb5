-- 0026: the search for other keys' due rows (0025) gives every key its turn, and takes only the head of a
-- key that may send one request at a time (issue #15, a review of 0025).
--
-- Three faults of 0025's delivery_lease_other_keys, each found by reading it:
--   1. Keys could miss their turn. The search's second round (from the first key, up to where the previous
--      search stopped) visited keys until it had as many as the whole need, not as many as were still
--      wanted, and the next search started after the last key *visited*. With keys holding one due row each
--      and a few more keys than places (11 keys, 8 places), keys 6-8 were visited, not served, and passed
--      over by every later search: they waited for the due order. The next search now starts after the last
--      key *served*, and each step of the walk looks for as many keys as are still wanted.
--   2. For a key that may have one request open (an ordered endpoint, a breaker after two failures or open,
--      a cap of one), the search took up to an even share of its due rows. With its head in flight
--      elsewhere, SKIP LOCKED took the rows behind the head: locked and never sent (the lease leases an
--      ordered key's head only), they waited, unsendable by any other slot, until this lease's round
--      committed. Such a key now gets its earliest pending row or nothing.
--   3. A key whose due rows were all in flight counted as found, so under load a search could stop with
--      keys found and no row locked. The search now goes on walking, from where it stopped, while rows are
--      still wanted and it may visit more keys.
--
-- delivery_lease is unchanged: it calls the helper by name, and the helper's signature is the same.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

-- Due rows of keys other than p_skip (and not among p_taken), locked FOR NO KEY UPDATE SKIP LOCKED: at most
-- p_need rows, visiting at most p_max_keys pending keys, starting after the last key the previous search of
-- this session served.
--
-- As in 0025, every statement walks deliveries_breaker_pending_idx whatever the statistics say (the range
-- conditions and the ordering by the index's own columns; sequential scans and sorts priced out), and no
-- row is locked only to be given up: each lock statement's LIMIT stops the scan at the rows it keeps. An
-- empty breaker key ('') sorts first and is never found by the search; its rows are leased in due order as
-- before (enqueue never makes one: a key is the endpoint's own or 'endpoint:<id>').
CREATE OR REPLACE FUNCTION delivery_lease_other_keys(p_skip text[], p_taken bigint[], p_need integer, p_max_keys integer)
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
    -- The walk goes from v_from to the end of the index, then, if it started at a cursor, from the first
    -- key up to the cursor (v_upper).
    v_from text;
    v_upper text := NULL;
    v_wrapped boolean;
    v_left integer := p_max_keys;
    v_want integer;
    v_ids bigint[] := '{}';
    v_keys text[];
    v_heads bigint[];
    v_narrow boolean[];
    v_wide text[];
    v_visited integer;
    v_last text;
    v_served text;
    v_step_max text;
    v_got bigint[];
    v_got_keys text[];
    v_fill integer;
    v_each integer;
    v_quiet text;
    v_found_any boolean := false;
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
    v_from := coalesce(v_cursor, '');
    v_wrapped := v_cursor IS NULL;
    LOOP
        v_want := p_need - cardinality(v_ids);
        EXIT WHEN v_want <= 0 OR v_left <= 0;
        -- The skip scan: each step is one descent of (breaker_key, next_attempt_at) to the next key's
        -- earliest pending row (its head). It stops after v_left keys, once it has found as many due keys
        -- as rows are still wanted, or at v_upper.
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
            WHERE w.depth < v_left AND w.found < v_want AND (v_upper IS NULL OR w.key < v_upper)
        )
        SELECT array_agg(w.key ORDER BY w.depth) FILTER (WHERE w.due AND w.key <> ALL (p_skip)
                                                           AND (v_upper IS NULL OR w.key <= v_upper)),
               array_agg(w.head ORDER BY w.depth) FILTER (WHERE w.due AND w.key <> ALL (p_skip)
                                                            AND (v_upper IS NULL OR w.key <= v_upper)),
               count(*)::int, (array_agg(w.key ORDER BY w.depth DESC))[1]
        INTO v_keys, v_heads, v_visited, v_last
        FROM walk w;
        IF v_visited = 0 THEN
            -- The end of the index: go round to the first key, up to the cursor, once.
            EXIT WHEN v_wrapped;
            v_wrapped := true;
            v_upper := v_cursor;
            v_from := '';
            CONTINUE;
        END IF;
        v_left := v_left - v_visited;
        v_from := v_last;
        IF v_keys IS NOT NULL THEN
            v_found_any := true;
            v_step_max := NULL;
            -- Keys that may have one request open get their head or nothing: a row behind a head in flight
            -- elsewhere could not be sent by this lease and would only be held. (The same conditions as the
            -- window of 1 in delivery_lease; endpoints sharing a key share the strictest.)
            SELECT array_agg(
                       coalesce((SELECT b.consecutive_failures > 1 OR b.state = 'open' OR b.deferred_until > now()
                                        OR b.send_window <= 1
                                 FROM circuit_breakers b WHERE b.key = f.key), false)
                       OR EXISTS (SELECT 1 FROM deliveries h JOIN endpoints e ON e.id = h.endpoint_id
                                  WHERE h.id = f.head
                                    AND (e.ordered OR e.max_in_flight <= 1
                                         OR (e.breaker_key IS NOT NULL AND EXISTS (
                                                 SELECT 1 FROM endpoints x
                                                 WHERE x.breaker_key = e.breaker_key
                                                   AND (x.ordered OR x.max_in_flight <= 1)))))
                       ORDER BY f.nth)
            INTO v_narrow
            FROM unnest(v_keys, v_heads) WITH ORDINALITY AS f(key, head, nth);
            -- Their heads, if free.
            SELECT array_agg(x.id), array_agg(x.breaker_key) INTO v_got, v_got_keys FROM (
                SELECT d.id, d.breaker_key FROM deliveries d
                WHERE d.id = ANY (ARRAY(SELECT f.head FROM unnest(v_heads, v_narrow) AS f(head, narrow) WHERE f.narrow))
                  AND d.state = 'pending' AND d.next_attempt_at <= now()
                  AND d.id <> ALL (p_taken) AND d.id <> ALL (v_ids)
                LIMIT v_want
                FOR NO KEY UPDATE SKIP LOCKED) x;
            v_ids := v_ids || coalesce(v_got, '{}');
            v_step_max := (SELECT max(k) FROM unnest(v_got_keys) AS k);
            -- The others: an even share for each (at least one row), so that one key cannot take every
            -- place; then, if rows are still wanted, whatever those keys have.
            v_wide := ARRAY(SELECT f.key FROM unnest(v_keys, v_narrow) WITH ORDINALITY AS f(key, narrow, nth)
                            WHERE NOT f.narrow ORDER BY f.nth);
            FOR v_fill IN 1..2 LOOP
                EXIT WHEN cardinality(v_wide) = 0 OR cardinality(v_ids) >= p_need;
                v_each := CASE WHEN v_fill = 1 THEN greatest(1, (p_need - cardinality(v_ids)) / cardinality(v_wide))
                               ELSE p_need - cardinality(v_ids) END;
                SELECT array_agg(x.id), array_agg(x.key) INTO v_got, v_got_keys FROM (
                    SELECT r.id, k.key FROM unnest(v_wide) AS k(key)
                    CROSS JOIN LATERAL (
                        SELECT d.id FROM deliveries d
                        -- The key's due rows as one range of its index, so that nothing else can serve them
                        -- (0025: with `breaker_key = k.key` the planner took the due index, the key a filter).
                        WHERE d.state = 'pending'
                          AND (d.breaker_key, d.next_attempt_at) >= (k.key, '-infinity'::timestamptz)
                          AND (d.breaker_key, d.next_attempt_at) <= (k.key, now())
                          AND d.id <> ALL (p_taken) AND d.id <> ALL (v_ids)
                        ORDER BY d.breaker_key, d.next_attempt_at
                        LIMIT v_each
                        FOR NO KEY UPDATE SKIP LOCKED) r
                    LIMIT p_need - cardinality(v_ids)) x;
                v_ids := v_ids || coalesce(v_got, '{}');
                v_step_max := greatest(v_step_max, (SELECT max(k) FROM unnest(v_got_keys) AS k));
            END LOOP;
            -- The keys of one step are in index order, so its greatest key served is the last one.
            v_served := coalesce(v_step_max, v_served);
        END IF;
        EXIT WHEN v_upper IS NOT NULL AND v_last >= v_upper;
    END LOOP;
    -- The next search starts after the last key served here; if none was (every key found was in flight or
    -- not due), after the last key visited, so that the next one does not visit the same keys again.
    IF coalesce(v_served, v_last) IS NOT NULL THEN
        PERFORM set_config('herald.lease_key_cursor', coalesce(v_served, v_last), false);
    END IF;
    IF cardinality(p_skip) = 1 AND NOT v_found_any AND v_left > 0 THEN
        PERFORM set_config('herald.lease_quiet',
                           ((extract(epoch FROM clock_timestamp()) * 1000)::bigint + 100) || ' ' || p_skip[1], false);
    END IF;
    RETURN v_ids;
END
$fn$;
