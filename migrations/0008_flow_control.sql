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
-- records a batch's outcomes: it starts at the breaker threshold, grows by one per success up to the cap,
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
-- Walks the due index oldest first (at most p_walk rows, so a lease costs a bounded amount however the
-- queue looks). For each key met it decides how many sends it may have in flight (its window, see the
-- header) and takes free permits one at a time; a row is locked (SKIP LOCKED) only once its permit is
-- held, and a permit whose row turned out to be taken serves the key's next row. Keys that may send
-- nothing now (open, deferred, half-open with the probe out) have their due rows moved, in bounded
-- batches, to when they may send again, so they do not crowd the head of the due index; keys whose
-- window is merely full are skipped. Returns the leased ids and whether each is its key's probe, plus a
-- row (lease_id NULL) for each key whose backlog was larger than one bounded move: the worker moves the
-- rest in bounded batches of their own after its commit, outside the lease; and, when nothing was leased,
-- a row (lease_id and backlog_key NULL) saying when the next pending delivery falls due.
CREATE FUNCTION delivery_lease(p_limit integer, p_walk integer, p_default_cap integer, p_threshold integer,
                               p_probe_wait_ms integer)
RETURNS TABLE (lease_id bigint, lease_probe boolean, backlog_key text, backlog_until timestamptz)
LANGUAGE plpgsql
VOLATILE
SET search_path FROM CURRENT
AS $fn$
DECLARE
    r record;
    k record;
    v_keys text[] := '{}';
    v_limit integer[] := '{}';   -- permits this key may have in flight now
    v_next integer[] := '{}';    -- the next permit number to try
    v_spare boolean[] := '{}';   -- a permit taken whose row was lost to another worker
    v_probe boolean[] := '{}';
    v_ordered boolean[] := '{}';
    v_full boolean[] := '{}';
    i integer;
    v_n integer;
    v_count integer := 0;
    v_until timestamptz;
    v_moved integer;
BEGIN
    FOR r IN
        SELECT d.id, d.breaker_key, d.endpoint_id
        FROM deliveries d
        WHERE d.state = 'pending' AND d.next_attempt_at <= now()
        ORDER BY d.next_attempt_at
        LIMIT p_walk
    LOOP
        i := array_position(v_keys, r.breaker_key);
        IF i IS NULL THEN
            SELECT b.state, b.open_until, b.consecutive_failures, b.send_window, b.deferred_until,
                   e.max_in_flight, e.ordered, e.breaker_failure_threshold
            INTO k
            FROM endpoints e
            LEFT JOIN circuit_breakers b ON b.key = r.breaker_key
            WHERE e.id = r.endpoint_id;
            v_until := NULL;
            v_keys := v_keys || r.breaker_key;
            i := cardinality(v_keys);
            v_next[i] := 0;
            v_spare[i] := false;
            v_full[i] := false;
            v_ordered[i] := coalesce(k.ordered, false);
            v_probe[i] := false;
            IF k.deferred_until > now() THEN
                v_limit[i] := 0;
                v_until := k.deferred_until;
            ELSIF k.state = 'open' AND k.open_until > now() THEN
                v_limit[i] := 0;
                v_until := k.open_until;
            ELSIF k.state = 'open' THEN
                v_limit[i] := 1;     -- half-open: the one probe
                v_probe[i] := true;
            ELSIF coalesce(k.consecutive_failures, 0) > 0 THEN
                v_limit[i] := 1;
            ELSE
                v_limit[i] := least(coalesce(k.send_window, k.breaker_failure_threshold, p_threshold),
                                    coalesce(k.max_in_flight, p_default_cap));
            END IF;
            IF v_ordered[i] THEN
                v_limit[i] := least(v_limit[i], 1);
            END IF;
            IF v_limit[i] = 0 THEN
                -- Out of the due index's head until the key may send again; bounded, rows others hold skipped.
                -- A full batch moved: the worker moves the rest after its commit (backlog_key).
                UPDATE deliveries SET next_attempt_at = v_until, updated_at = now()
                WHERE id IN (SELECT x.id FROM deliveries x
                             WHERE x.breaker_key = r.breaker_key AND x.state = 'pending' AND x.next_attempt_at < v_until
                             ORDER BY x.next_attempt_at
                             LIMIT 500
                             FOR UPDATE SKIP LOCKED);
                GET DIAGNOSTICS v_moved = ROW_COUNT;
                IF v_moved >= 500 THEN
                    lease_id := NULL; lease_probe := NULL; backlog_key := r.breaker_key; backlog_until := v_until;
                    RETURN NEXT;
                END IF;
                v_full[i] := true;
            END IF;
        END IF;
        CONTINUE WHEN v_full[i];

        IF v_ordered[i] AND EXISTS (SELECT 1 FROM deliveries o
                                    WHERE o.endpoint_id = r.endpoint_id AND o.state = 'pending' AND o.id < r.id) THEN
            CONTINUE;    -- not the head: FIFO endpoints send their oldest pending delivery only
        END IF;

        IF NOT v_spare[i] THEN
            SELECT n INTO v_n
            FROM generate_series(v_next[i], v_limit[i] - 1) AS n
            WHERE pg_try_advisory_xact_lock(permit_class(r.breaker_key), n)
            LIMIT 1;
            IF NOT FOUND THEN
                v_full[i] := true;
                IF v_probe[i] AND v_next[i] = 0 THEN
                    -- Another worker has the probe out: the backlog waits, away from the head of the index.
                    -- (Never pushed from the probe's own lease: it would stay locked until the probe ends.)
                    v_until := now() + make_interval(secs => p_probe_wait_ms / 1000.0);
                    UPDATE deliveries SET next_attempt_at = v_until, updated_at = now()
                    WHERE id IN (SELECT x.id FROM deliveries x
                                 WHERE x.breaker_key = r.breaker_key AND x.state = 'pending' AND x.next_attempt_at < v_until
                                 ORDER BY x.next_attempt_at
                                 LIMIT 500
                                 FOR UPDATE SKIP LOCKED);
                    GET DIAGNOSTICS v_moved = ROW_COUNT;
                    IF v_moved >= 500 THEN
                        lease_id := NULL; lease_probe := NULL; backlog_key := r.breaker_key; backlog_until := v_until;
                        RETURN NEXT;
                    END IF;
                END IF;
                CONTINUE;
            END IF;
            v_next[i] := v_n + 1;
            v_spare[i] := true;
        END IF;

        PERFORM 1 FROM deliveries x
        WHERE x.id = r.id AND x.state = 'pending' AND x.next_attempt_at <= now()
        FOR NO KEY UPDATE SKIP LOCKED;
        IF FOUND THEN
            v_spare[i] := false;
            lease_id := r.id;
            lease_probe := v_probe[i];
            backlog_key := NULL;
            backlog_until := NULL;
            RETURN NEXT;
            v_count := v_count + 1;
            EXIT WHEN v_count >= p_limit;
        END IF;
    END LOOP;
    IF v_count = 0 THEN
        -- Nothing to send now: say when the next delivery falls due (a rate limit or a retry put it a few
        -- milliseconds ahead, say), so an idle slot wakes then instead of at its next poll.
        lease_id := NULL; lease_probe := NULL; backlog_key := NULL;
        backlog_until := (SELECT min(d.next_attempt_at) FROM deliveries d WHERE d.state = 'pending' AND d.next_attempt_at > now());
        IF backlog_until IS NOT NULL THEN
            RETURN NEXT;
        END IF;
    END IF;
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
                ELSE least(p_cap, p_threshold + p_successes) END,
           v_defer
    FROM breaker_transition('closed', 0, 0, NULL, p_successes, p_trailing_failures, p_probe, p_probe_ok,
                            p_threshold, p_cooldown_ms, p_cooldown_cap_ms, v_at) t
    ON CONFLICT (key) DO UPDATE SET
        (state, consecutive_failures, trips, opened_at, open_until, send_window) = (
            SELECT t.state, t.consecutive_failures, t.trips, coalesce(t.opened_at, b.opened_at), t.open_until,
                   CASE WHEN t.state <> 'closed' OR (p_probe AND t.state = 'closed') THEN NULL
                        WHEN p_congested THEN greatest(1, coalesce(b.send_window, p_threshold) / 2)
                        ELSE least(p_cap, coalesce(b.send_window, p_threshold) + p_successes) END
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
        ORDER BY x.breaker_key    -- a fixed lock order across journals of different workers
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
        SELECT x.delivery_id, x.attempt, x.worker_id, x.started_at, 'unknown'
        FROM jsonb_to_recordset(p_markers) AS x(delivery_id bigint, attempt integer, worker_id text, started_at timestamptz)
        WHERE x.delivery_id <> ALL (v_refused)
        RETURNING delivery_id, id
    )
    SELECT i.delivery_id, i.id, coalesce(p.after, 0), NULL::timestamptz
    FROM inserted i LEFT JOIN unnest(v_paced, v_after) AS p(id, after) ON p.id = i.delivery_id
    UNION ALL
    SELECT u.id, NULL::bigint, NULL::integer, u.at FROM unnest(v_refused, v_retry) AS u(id, at);
END
$fn$;
