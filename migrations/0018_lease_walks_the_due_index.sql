-- 0018: the lease's second pass walks the due index instead of scanning the table (issue #15).
--
-- delivery_lease (0008) looks a second time for work when a key of its batch had no free permit: over the
-- first p_walk due rows, skipping the keys found full. That was one statement joining the walk back to
-- `deliveries` and locking the result; its plan (generic, inside PL/pgSQL) hash-joined the walk to a
-- sequential scan of the whole table: 24 ms per second pass with 50,000 rows at the bench's drain, and it
-- grows with the finished history a deployment keeps. Now the walk is read from the due index without
-- locks, and each candidate is locked by primary key, one at a time, until the batch is full. Everything
-- else is 0008's function unchanged.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

CREATE OR REPLACE FUNCTION delivery_lease(p_limit integer, p_walk integer, p_default_cap integer, p_threshold integer,
                               p_probe_wait_ms integer)
RETURNS TABLE (lease_id bigint, lease_probe boolean, backlog_key text, backlog_until timestamptz, lease_excess integer)
LANGUAGE plpgsql
VOLATILE
-- A batch, not the default estimate of 1,000: the lease's joins must stay primary-key lookups.
ROWS 16
SET search_path FROM CURRENT
AS $fn$
DECLARE
    v_ids bigint[];
    v_full text[] := '{}';
    v_taken bigint[] := '{}';
    v_count integer := 0;
    v_excess integer := 0;
    v_pass integer;
    v_keys text[] := '{}';      -- keys that took permits in an earlier pass of this lease …
    v_next integer[] := '{}';   -- … and the permit number to try next for each
    v_got integer;
    v_top integer;
    v_moved integer;
    i integer;
    k record;
    v_walk record;
BEGIN
    FOR v_pass IN 1..2 LOOP
        IF v_pass = 1 THEN
            SELECT array_agg(x.id) INTO v_ids FROM (
                SELECT d.id FROM deliveries d
                WHERE d.state = 'pending' AND d.next_attempt_at <= now()
                ORDER BY d.next_attempt_at
                LIMIT p_limit
                FOR NO KEY UPDATE SKIP LOCKED) x;
        ELSE
            -- The walk: at most p_walk due rows in due order, read from the index without locking; rows of
            -- keys found full and rows already taken are passed over, the others locked one at a time
            -- (SKIP LOCKED) until the batch is full. (Until 0018 this was one statement whose plan joined
            -- the walk to the whole table by a hash join: a sequential scan of every delivery, history
            -- included, on every second pass.)
            v_ids := NULL;
            FOR v_walk IN
                SELECT c.id, c.breaker_key FROM deliveries c
                WHERE c.state = 'pending' AND c.next_attempt_at <= now()
                ORDER BY c.next_attempt_at
                LIMIT p_walk
            LOOP
                CONTINUE WHEN v_walk.breaker_key = ANY (v_full) OR v_walk.id = ANY (v_taken);
                PERFORM 1 FROM deliveries d
                WHERE d.id = v_walk.id AND d.state = 'pending' AND d.next_attempt_at <= now()
                FOR NO KEY UPDATE SKIP LOCKED;
                IF FOUND THEN
                    v_ids := array_append(v_ids, v_walk.id);
                    EXIT WHEN cardinality(v_ids) >= p_limit - v_count;
                END IF;
            END LOOP;
        END IF;
        EXIT WHEN v_ids IS NULL;
        v_taken := v_taken || v_ids;

        -- One row per key of this pass: its window now, and the permits it could take.
        FOR k IN
            WITH rows AS (
                SELECT d.id, d.breaker_key, d.endpoint_id, d.next_attempt_at,
                       row_number() OVER (PARTITION BY d.breaker_key ORDER BY d.next_attempt_at, d.id) AS nth
                FROM deliveries d WHERE d.id = ANY (v_ids)
            ), keys AS (
                SELECT r.breaker_key, min(r.endpoint_id) AS endpoint_id, count(*)::int AS need,
                       array_agg(r.id ORDER BY r.nth) AS ids
                FROM rows r GROUP BY r.breaker_key
            ), windows AS (
                SELECT ky.*, s.ordered,
                       CASE
                           WHEN b.deferred_until > now() THEN 0
                           WHEN b.state = 'open' AND b.open_until > now() THEN 0
                           WHEN b.state = 'open' THEN 1
                           WHEN coalesce(b.consecutive_failures, 0) > 0 OR s.ordered THEN 1
                           ELSE least(coalesce(b.send_window, e.breaker_failure_threshold, p_threshold),
                                      coalesce(s.max_in_flight, p_default_cap))
                       END AS win,
                       coalesce(b.state = 'open' AND b.open_until <= now(), false) AS probe,
                       CASE WHEN b.deferred_until > now() THEN b.deferred_until
                            WHEN b.state = 'open' AND b.open_until > now() THEN b.open_until END AS held_until
                FROM keys ky
                JOIN endpoints e ON e.id = ky.endpoint_id
                -- Endpoints sharing a breaker key share its permits: the strictest cap of them, and FIFO for
                -- the whole key if any of them is ordered. (An endpoint with its own key is its own row.)
                CROSS JOIN LATERAL (
                    SELECT e.max_in_flight, e.ordered WHERE e.breaker_key IS NULL
                    UNION ALL
                    SELECT min(x.max_in_flight), bool_or(x.ordered) FROM endpoints x
                    WHERE e.breaker_key IS NOT NULL AND x.breaker_key = e.breaker_key
                    HAVING count(*) > 0
                ) s
                LEFT JOIN circuit_breakers b ON b.key = ky.breaker_key
            )
            SELECT w.*, h.head_id, h.head_due,
                   -- Ordered keys: only the oldest pending delivery, and only if this batch holds (locked) it.
                   CASE WHEN w.ordered THEN CASE WHEN h.head_id = ANY (w.ids) THEN 1 ELSE 0 END ELSE w.need END AS wanted
            FROM windows w
            LEFT JOIN LATERAL (
                SELECT o.id AS head_id, o.next_attempt_at AS head_due FROM deliveries o
                WHERE w.ordered AND o.endpoint_id = w.endpoint_id AND o.state = 'pending'
                ORDER BY o.id LIMIT 1
            ) h ON true
            ORDER BY w.breaker_key
        LOOP
            IF k.win = 0 THEN
                -- Out of the due index's head until the key may send again (our own rows included).
                UPDATE deliveries SET next_attempt_at = k.held_until, updated_at = now()
                WHERE id IN (SELECT x.id FROM deliveries x
                             WHERE x.breaker_key = k.breaker_key AND x.state = 'pending' AND x.next_attempt_at < k.held_until
                             ORDER BY x.next_attempt_at
                             LIMIT 500
                             FOR UPDATE SKIP LOCKED);
                GET DIAGNOSTICS v_moved = ROW_COUNT;
                IF v_moved >= 500 THEN
                    lease_id := NULL; lease_probe := NULL; backlog_key := k.breaker_key; backlog_until := k.held_until;
                    lease_excess := NULL;
                    RETURN NEXT;
                END IF;
                v_full := v_full || k.breaker_key;
                CONTINUE;
            END IF;
            -- Take up to `wanted` free permits below the window. Advisory locks are re-entrant: a number this
            -- lease already holds would count twice, so a key met again in the second pass starts above the
            -- numbers it took in the first.
            i := array_position(v_keys, k.breaker_key);
            SELECT count(*), max(n) INTO v_got, v_top FROM (
                SELECT n FROM generate_series(coalesce(v_next[i], 0), k.win - 1) AS n
                WHERE pg_try_advisory_xact_lock(permit_class(k.breaker_key), n)
                LIMIT least(k.wanted, k.win)) p;
            IF v_got > 0 THEN
                IF i IS NULL THEN
                    v_keys := v_keys || k.breaker_key;
                    v_next := v_next || (v_top + 1);
                ELSE
                    v_next[i] := v_top + 1;
                END IF;
            END IF;
            IF v_got < k.need THEN
                v_full := v_full || k.breaker_key;
                v_excess := v_excess + k.need - v_got;
                IF k.probe AND v_got = 0 AND i IS NULL THEN
                    -- Another worker has the probe out: the backlog waits, away from the head of the index;
                    -- a larger backlog than one bounded move is moved on by the worker after its commit.
                    UPDATE deliveries SET next_attempt_at = now() + make_interval(secs => p_probe_wait_ms / 1000.0),
                                          updated_at = now()
                    WHERE id IN (SELECT x.id FROM deliveries x
                                 WHERE x.breaker_key = k.breaker_key AND x.state = 'pending' AND x.next_attempt_at <= now()
                                 ORDER BY x.next_attempt_at
                                 LIMIT 500
                                 FOR UPDATE SKIP LOCKED);
                    GET DIAGNOSTICS v_moved = ROW_COUNT;
                    IF v_moved >= 500 THEN
                        lease_id := NULL; lease_probe := NULL; backlog_key := k.breaker_key;
                        backlog_until := now() + make_interval(secs => p_probe_wait_ms / 1000.0); lease_excess := NULL;
                        RETURN NEXT;
                    END IF;
                ELSIF k.ordered AND k.wanted = 0 AND k.head_due > now() THEN
                    -- The head waits for its retry: the rest wait for it, out of the index's head (due rows
                    -- only, through the key's pending index).
                    UPDATE deliveries SET next_attempt_at = k.head_due, updated_at = now()
                    WHERE id IN (SELECT x.id FROM deliveries x
                                 WHERE x.breaker_key = k.breaker_key AND x.state = 'pending' AND x.next_attempt_at <= now()
                                 ORDER BY x.next_attempt_at
                                 LIMIT 500
                                 FOR UPDATE SKIP LOCKED);
                END IF;
            END IF;
            IF v_got > 0 THEN
                IF k.ordered THEN
                    -- The head only: the key's oldest pending delivery, which this batch holds.
                    lease_id := k.head_id;
                    lease_probe := k.probe; backlog_key := NULL; backlog_until := NULL; lease_excess := NULL;
                    RETURN NEXT;
                    v_count := v_count + 1;
                ELSE
                    FOR j IN 1..v_got LOOP
                        lease_id := k.ids[j]; lease_probe := k.probe; backlog_key := NULL; backlog_until := NULL;
                        lease_excess := NULL;
                        RETURN NEXT;
                        v_count := v_count + 1;
                    END LOOP;
                END IF;
            END IF;
        END LOOP;
        EXIT WHEN v_count >= p_limit OR cardinality(v_full) = 0;
    END LOOP;
    -- The status row.
    lease_id := NULL; lease_probe := NULL; backlog_key := NULL; lease_excess := v_excess;
    backlog_until := CASE WHEN v_count = 0 THEN
        (SELECT min(d.next_attempt_at) FROM deliveries d WHERE d.state = 'pending' AND d.next_attempt_at > now()) END;
    RETURN NEXT;
END
$fn$;
