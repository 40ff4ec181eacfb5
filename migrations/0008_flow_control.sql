-- 0008: fleet-wide per-endpoint flow control (docs/flow_control.md).
--
-- Before this, each slot read the breaker as of its own lease and paced only its own batch, so a fleet of
-- S slots could send S × threshold requests to a dead endpoint, and a batch sent in waves could outlive its
-- lease. Now a send to breaker key K needs one of K's *permits*: a transaction-level advisory lock on
-- (K, n) for n below K's window, taken by the lease itself and released by PostgreSQL when the lease's
-- transaction ends (commit, rollback, or the worker's death): crash-safe, no reaper. A slot leases only
-- rows it holds permits for, so every send of a batch starts at once.
--
-- The window is adaptive (AIMD) and lives on the breaker row, changed by the same atomic upsert that
-- records a batch's outcomes: it starts at the breaker threshold, doubles with each batch of successes up
-- to the cap (slow start: five writes take a new key from 5 to 128, after which healthy batches write
-- nothing),
-- halves on a failure, timeout or 429, is 1 while the key has consecutive failures (so a dead endpoint
-- gets at most about window + threshold requests), 0 while open and 1 while half-open (the probe).

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

-- The adaptive window; NULL means "start small" (the breaker threshold).
ALTER TABLE circuit_breakers ADD COLUMN send_window integer CONSTRAINT circuit_breakers_send_window CHECK (send_window >= 1);
-- A 429 or a 503 with Retry-After defers the whole key until then (it never counts toward a trip).
ALTER TABLE circuit_breakers ADD COLUMN deferred_until timestamptz;
-- The rate limit's theoretical arrival time (GCRA): reserved per batch on the journal connection.
ALTER TABLE circuit_breakers ADD COLUMN rate_tat timestamptz;

-- Per-endpoint flow-control settings (`herald endpoints set`); NULL means the worker's default.
-- A hard cap on requests in flight to the endpoint across every worker.
ALTER TABLE endpoints ADD COLUMN max_in_flight integer
    CONSTRAINT endpoints_max_in_flight CHECK (max_in_flight BETWEEN 1 AND 10000);
-- Requests per minute across every worker (`--rate-limit 50/s` is stored as 3000).
ALTER TABLE endpoints ADD COLUMN rate_limit_per_minute integer
    CONSTRAINT endpoints_rate_limit CHECK (rate_limit_per_minute BETWEEN 1 AND 6000000);
-- FIFO: one request in flight, oldest first; a failing head holds back the rest.
ALTER TABLE endpoints ADD COLUMN ordered boolean NOT NULL DEFAULT false;

-- 'interrupted': a send cut off because its lease ended while the worker was alive (database restart,
-- idle timeout). Unlike 'unknown' (the worker died or froze mid-send) it never counts toward parking.
-- The old check is replaced by a wider one, so every existing row satisfies it: it is left NOT VALID
-- rather than validated, which would scan the attempt log under this migration's lock.
-- squawk-ignore ban-drop-constraint
ALTER TABLE attempts DROP CONSTRAINT attempts_outcome;
ALTER TABLE attempts ADD CONSTRAINT attempts_outcome
    CHECK (outcome IN ('delivered', 'retry', 'failed', 'dead', 'unknown', 'interrupted')) NOT VALID;

-- Ordered endpoints lease only their oldest pending delivery: found through this index, which also
-- serves "pending per endpoint" counts without visiting finished rows.
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX deliveries_endpoint_pending_idx ON deliveries (endpoint_id, id) WHERE state = 'pending';

-- The permit lock of (key, n): the two-integer advisory-lock space, apart from the one-bigint space that
-- `herald migrate` uses. The schema is part of the hash so two Herald schemas never share permits.
CREATE FUNCTION permit_class(p_key text)
RETURNS integer
LANGUAGE sql
STABLE
AS $fn$
    SELECT hashtext(current_schema() || ':' || p_key);
$fn$;

-- The lease: up to p_limit due pending deliveries, each with a permit of its breaker key.
--
-- Rows are taken the way they always were, oldest first with FOR NO KEY UPDATE SKIP LOCKED (rows in
-- flight elsewhere are skipped by the index scan itself), then each key of the batch takes as many free
-- permits as it has rows, all keys in one statement. A key's window comes from its breaker and endpoint
-- rows (see the header). Rows a key has no permit for stay locked but are not returned ("excess"): they
-- are released untouched when the lease ends. If the first pass left room, a second pass, over at most
-- p_walk due rows and excluding the keys found full, fills it. Keys that may send nothing now (open,
-- deferred, half-open with the probe out) have their due rows moved, 500 at a time, to when they may send
-- again, so they leave the head of the due index; ordered endpoints send only their oldest pending row.
--
-- Returns the leased ids (and whether each is its key's probe), a row per key whose backlog needs more
-- than one bounded move (backlog_key: the worker moves the rest after its commit, outside the lease), and
-- a last row (lease_id and backlog_key NULL) with the rows left unsent for want of a permit (excess) and,
-- when nothing was leased, when the next pending delivery falls due (backlog_until).
CREATE FUNCTION delivery_lease(p_limit integer, p_walk integer, p_default_cap integer, p_threshold integer,
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
            SELECT array_agg(x.id) INTO v_ids FROM (
                SELECT d.id FROM deliveries d
                WHERE d.id IN (SELECT w.id FROM deliveries w
                               WHERE w.state = 'pending' AND w.next_attempt_at <= now()
                               ORDER BY w.next_attempt_at LIMIT p_walk)
                  AND d.state = 'pending' AND d.next_attempt_at <= now()
                  AND d.breaker_key <> ALL (v_full) AND d.id <> ALL (v_taken)
                ORDER BY d.next_attempt_at
                LIMIT p_limit - v_count
                FOR NO KEY UPDATE SKIP LOCKED) x;
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

-- Records one batch of outcomes for a breaker key in one atomic upsert: the breaker's transition (as in
-- 0003, but cool-downs start at the trip, clock_timestamp(), not at the lease's now(): a batch may have
-- been in flight for seconds), the AIMD window, and a Retry-After deferral. The half-open probe needs
-- no claim of its own any more: a half-open key has one permit, so breaker_claim_probe (which held a
-- breaker row lock across the send and could deadlock with completions locking rows in key order) is
-- no longer used.
--   p_congested: the batch saw a failure, timeout or 429 (the window halves);
--   p_retry_after_ms: the longest Retry-After a 429/503 asked for (defers the whole key).
-- A trip moves at most 500 of the key's due rows; leases move the rest as they meet them.
-- The 0003 functions stay for workers of the previous version during a rolling deploy (this one is an
-- overload with three more arguments; breaker_claim_probe is simply no longer called).

CREATE FUNCTION breaker_record(
    p_key text, p_successes integer, p_failures integer, p_trailing_failures integer, p_probe boolean,
    p_probe_ok boolean, p_threshold integer, p_cooldown_ms integer, p_cooldown_cap_ms integer,
    p_delivery_id bigint, p_reason text, p_congested boolean, p_retry_after_ms integer, p_cap integer
)
RETURNS TABLE (breaker_state text, breaker_previous_state text, breaker_open_until timestamptz, breaker_version bigint)
LANGUAGE plpgsql
VOLATILE
SET search_path FROM CURRENT
AS $fn$
DECLARE
    r circuit_breakers%ROWTYPE;
    v_from text;
    v_at timestamptz := clock_timestamp();
    v_defer timestamptz := CASE WHEN p_retry_after_ms IS NOT NULL
                                THEN clock_timestamp() + make_interval(secs => p_retry_after_ms / 1000.0) END;
BEGIN
    INSERT INTO circuit_breakers AS b (key, state, consecutive_failures, trips, opened_at, open_until,
                                       total_successes, total_failures, version, previous_state, updated_at,
                                       send_window, deferred_until)
    SELECT p_key, t.state, t.consecutive_failures, t.trips, t.opened_at, t.open_until, p_successes, p_failures, 1,
           'closed', now(),
           CASE WHEN t.state <> 'closed' THEN NULL
                WHEN p_congested THEN greatest(1, p_threshold / 2)
                WHEN p_successes > 0 THEN least(p_cap, greatest(p_threshold * 2, p_threshold + p_successes))
                ELSE p_threshold END,
           v_defer
    FROM breaker_transition('closed', 0, 0, NULL, p_successes, p_trailing_failures, p_probe, p_probe_ok,
                            p_threshold, p_cooldown_ms, p_cooldown_cap_ms, v_at) t
    ON CONFLICT (key) DO UPDATE SET
        (state, consecutive_failures, trips, opened_at, open_until, send_window) = (
            SELECT t.state, t.consecutive_failures, t.trips, coalesce(t.opened_at, b.opened_at), t.open_until,
                   CASE WHEN t.state <> 'closed' OR (p_probe AND t.state = 'closed') THEN NULL
                        WHEN p_congested THEN greatest(1, coalesce(b.send_window, p_threshold) / 2)
                        WHEN p_successes > 0 THEN least(p_cap, greatest(coalesce(b.send_window, p_threshold) * 2,
                                                                        coalesce(b.send_window, p_threshold) + p_successes))
                        ELSE b.send_window END
            FROM breaker_transition(b.state, b.consecutive_failures, b.trips, b.open_until, p_successes,
                                    p_trailing_failures, p_probe, p_probe_ok, p_threshold, p_cooldown_ms,
                                    p_cooldown_cap_ms, v_at) t),
        deferred_until = greatest(b.deferred_until, v_defer),
        previous_state = b.state,
        total_successes = b.total_successes + p_successes,
        total_failures = b.total_failures + p_failures,
        version = b.version + 1,
        updated_at = now()
    RETURNING * INTO r;

    v_from := CASE WHEN p_probe THEN 'half_open' ELSE r.previous_state END;
    IF v_from <> r.state THEN
        INSERT INTO circuit_breaker_events (breaker_key, from_state, to_state, reason, delivery_id)
        VALUES (p_key, v_from, r.state,
                CASE
                    WHEN p_probe AND r.state = 'closed' THEN 'probe succeeded'
                    WHEN p_probe THEN format('probe failed: %s; open for %s', left(coalesce(p_reason, 'error'), 200),
                                             date_trunc('second', r.open_until - v_at + interval '0.5 second'))
                    ELSE format('%s consecutive failures (last: %s); open for %s', r.consecutive_failures,
                                left(coalesce(p_reason, 'error'), 200),
                                date_trunc('second', r.open_until - v_at + interval '0.5 second'))
                END,
                p_delivery_id);
    END IF;
    IF r.state = 'open' AND v_from <> 'open' THEN
        UPDATE deliveries SET next_attempt_at = r.open_until, updated_at = now()
        WHERE id IN (
            SELECT id FROM deliveries
            WHERE breaker_key = p_key AND state = 'pending' AND next_attempt_at < r.open_until
            ORDER BY next_attempt_at
            LIMIT 500
            FOR UPDATE SKIP LOCKED
        );
    END IF;
    RETURN QUERY SELECT r.state, v_from, r.open_until, r.version;
END
$fn$;

-- `herald breakers reset KEY`: closes a breaker (window and deferral reset too) and makes the deliveries
-- it held back due now. A breaker that is already closed records no event (it would read closed → closed).
CREATE OR REPLACE FUNCTION breaker_reset(p_key text)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SET search_path FROM CURRENT
AS $fn$
DECLARE
    v_from text;
    v_until timestamptz;
BEGIN
    WITH old AS (SELECT key, greatest(open_until, deferred_until) AS held_until FROM circuit_breakers WHERE key = p_key FOR UPDATE)
    UPDATE circuit_breakers AS b
    SET previous_state = b.state, state = 'closed', consecutive_failures = 0, trips = 0, open_until = NULL,
        send_window = NULL, deferred_until = NULL, version = b.version + 1, updated_at = now()
    FROM old
    WHERE b.key = old.key
    RETURNING b.previous_state, old.held_until INTO v_from, v_until;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF v_from <> 'closed' THEN
        INSERT INTO circuit_breaker_events (breaker_key, from_state, to_state, reason)
        VALUES (p_key, v_from, 'closed', 'reset by operator');
    END IF;
    IF v_until IS NOT NULL THEN
        UPDATE deliveries SET next_attempt_at = now(), updated_at = now()
        WHERE breaker_key = p_key AND state = 'pending' AND next_attempt_at <= v_until AND next_attempt_at > now();
    END IF;
    RETURN true;
END
$fn$;

-- Records sends about to start (outcome 'unknown'), committed before any request leaves, and reserves
-- the rate limit of keys that have one: one write per key per batch, never one per delivery, and no
-- breaker row held across a send (this runs autocommitted on the journal connection).
--
-- The rate limit is a GCRA without burst, reserved per batch: the key's requests are spaced 1/R apart
-- (3% slower than asked), each with the moment it may start. A batch takes the slots that fall within the
-- next 250 ms and each send waits for its moment (journal_send_after_ms); sends beyond that get no journal
-- row and come back with the moment they may be sent (journal_not_before). The documented bound, at most
-- ceil(R) + B requests in any one-second window with B = max(1, ceil(R / 10)), leaves B requests of room
-- for the jitter between a send's moment and its arrival (100 ms at any rate of 10/s and more).
-- p_markers: [{delivery_id, attempt, worker_id, started_at, breaker_key, rate_per_minute}].
CREATE FUNCTION attempt_journal(p_markers jsonb)
RETURNS TABLE (journal_delivery_id bigint, journal_attempt_id bigint, journal_send_after_ms integer,
               journal_not_before timestamptz)
LANGUAGE plpgsql
VOLATILE
SET search_path FROM CURRENT
AS $fn$
DECLARE
    k record;
    v_period interval;
    v_tat timestamptz;
    v_granted integer;
    v_now timestamptz := clock_timestamp();
    v_ids bigint[];
    v_refused bigint[] := '{}';
    v_retry timestamptz[] := '{}';
    v_paced bigint[] := '{}';
    v_after integer[] := '{}';
BEGIN
    FOR k IN
        SELECT x.breaker_key, max(x.rate_per_minute) AS rate, array_agg(x.delivery_id ORDER BY x.delivery_id) AS ids
        FROM jsonb_to_recordset(p_markers) AS x(delivery_id bigint, breaker_key text, rate_per_minute integer)
        WHERE x.rate_per_minute IS NOT NULL
        GROUP BY x.breaker_key
        ORDER BY x.breaker_key COLLATE "C"    -- the completions' order (Swift sorts by code point): no deadlock
    LOOP
        v_period := make_interval(secs => 61.8 / k.rate);
        INSERT INTO circuit_breakers (key) VALUES (k.breaker_key) ON CONFLICT (key) DO NOTHING;
        SELECT greatest(coalesce(b.rate_tat, v_now), v_now) INTO v_tat FROM circuit_breakers b WHERE b.key = k.breaker_key FOR UPDATE;
        -- Slots tat, tat + period, … that start within the next 250 ms.
        v_granted := least(cardinality(k.ids),
                           greatest(0, floor(extract(epoch FROM (v_now + interval '250 milliseconds' - v_tat))
                                             / extract(epoch FROM v_period))::integer + 1));
        UPDATE circuit_breakers SET rate_tat = v_tat + v_period * v_granted WHERE key = k.breaker_key;
        v_paced := v_paced || k.ids[1:v_granted];
        v_after := v_after || ARRAY(SELECT greatest(0, ceil(extract(epoch FROM (v_tat + v_period * g - v_now)) * 1000))::integer
                                    FROM generate_series(0, v_granted - 1) g);
        v_ids := k.ids[v_granted + 1:];
        v_refused := v_refused || v_ids;
        v_retry := v_retry || ARRAY(SELECT v_tat + v_period * (v_granted + g) FROM generate_series(0, cardinality(v_ids) - 1) g);
    END LOOP;
    RETURN QUERY
    WITH inserted AS (
        INSERT INTO attempts (delivery_id, attempt, worker_id, started_at, outcome)
        -- started_at by the database's clock: the resend wait after an interrupted send is measured from it.
        SELECT x.delivery_id, x.attempt, x.worker_id, v_now, 'unknown'
        FROM jsonb_to_recordset(p_markers) AS x(delivery_id bigint, attempt integer, worker_id text)
        WHERE x.delivery_id <> ALL (v_refused)
        RETURNING delivery_id, id
    )
    SELECT i.delivery_id, i.id, coalesce(p.after, 0), NULL::timestamptz
    FROM inserted i LEFT JOIN unnest(v_paced, v_after) AS p(id, after) ON p.id = i.delivery_id
    UNION ALL
    SELECT u.id, NULL::bigint, NULL::integer, u.at FROM unnest(v_refused, v_retry) AS u(id, at);
END
$fn$;
