-- 0003: the shared circuit breaker's transitions, applied atomically by the database.
--
-- The rules mirror Sources/Herald/Breaker/CircuitBreakerStateMachine.swift (a unit-tested pure value);
-- an integration test checks that both agree. State changes only through single atomic statements:
-- INSERT … ON CONFLICT DO UPDATE … RETURNING, never a read in the application followed by a write.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

-- The pure transition: from a breaker's state and one batch of outcomes to its next state.
--   p_successes / p_failures: counts of 2xx and retryable failures in the batch;
--   p_trailing_failures: retryable failures after the batch's last success (all of them if none);
--   p_probe / p_probe_ok: the batch is a half-open probe, and whether the endpoint answered (any
--   non-retryable answer proves it is up).
-- Cool-down after the n-th consecutive trip: least(cap, cooldown × 2^(n-1)).
CREATE FUNCTION breaker_transition(
    p_state text, p_consecutive_failures integer, p_trips integer, p_open_until timestamptz,
    p_successes integer, p_trailing_failures integer, p_probe boolean, p_probe_ok boolean,
    p_threshold integer, p_cooldown_ms integer, p_cooldown_cap_ms integer, p_now timestamptz,
    OUT state text, OUT consecutive_failures integer, OUT trips integer, OUT opened_at timestamptz, OUT open_until timestamptz
)
LANGUAGE sql
IMMUTABLE
AS $fn$
    WITH next AS (
        SELECT CASE WHEN p_successes > 0 THEN p_trailing_failures
                    ELSE p_consecutive_failures + p_trailing_failures END AS failures
    ), decided AS (
        SELECT failures,
               CASE
                   WHEN p_probe AND p_probe_ok THEN 'close'
                   WHEN p_probe THEN 'trip'
                   WHEN p_state = 'closed' AND failures >= p_threshold THEN 'trip'
                   ELSE 'keep'
               END AS action
        FROM next
    )
    SELECT
        CASE action WHEN 'close' THEN 'closed' WHEN 'trip' THEN 'open' ELSE p_state END,
        CASE action WHEN 'close' THEN 0 ELSE failures END,
        CASE action WHEN 'close' THEN 0 WHEN 'trip' THEN p_trips + 1 ELSE p_trips END,
        CASE action WHEN 'trip' THEN p_now ELSE NULL END,
        CASE action
            WHEN 'close' THEN NULL
            WHEN 'trip' THEN p_now + make_interval(secs => least(p_cooldown_cap_ms::float8,
                                                              p_cooldown_ms::float8 * power(2, least(p_trips, 30))) / 1000.0)
            ELSE p_open_until
        END
    FROM decided;
$fn$;

-- Records one batch of outcomes for a breaker key in one atomic upsert, and when the breaker changes
-- state: logs the transition and, on a trip, moves that key's due deliveries to when it may half-open
-- (rows other workers hold are skipped; their holders see the open breaker when they lease again).
CREATE FUNCTION breaker_record(
    p_key text, p_successes integer, p_failures integer, p_trailing_failures integer, p_probe boolean,
    p_probe_ok boolean, p_threshold integer, p_cooldown_ms integer, p_cooldown_cap_ms integer,
    p_delivery_id bigint, p_reason text
)
RETURNS TABLE (breaker_state text, breaker_previous_state text, breaker_open_until timestamptz, breaker_version bigint)
LANGUAGE plpgsql
VOLATILE
SET search_path FROM CURRENT
AS $fn$
DECLARE
    r circuit_breakers%ROWTYPE;
    v_from text;
BEGIN
    INSERT INTO circuit_breakers AS b (key, state, consecutive_failures, trips, opened_at, open_until,
                                       total_successes, total_failures, version, previous_state, updated_at)
    SELECT p_key, t.state, t.consecutive_failures, t.trips, t.opened_at, t.open_until, p_successes, p_failures, 1,
           'closed', now()
    FROM breaker_transition('closed', 0, 0, NULL, p_successes, p_trailing_failures, p_probe, p_probe_ok,
                            p_threshold, p_cooldown_ms, p_cooldown_cap_ms, now()) t
    ON CONFLICT (key) DO UPDATE SET
        (state, consecutive_failures, trips, opened_at, open_until) = (
            SELECT t.state, t.consecutive_failures, t.trips, coalesce(t.opened_at, b.opened_at), t.open_until
            FROM breaker_transition(b.state, b.consecutive_failures, b.trips, b.open_until, p_successes,
                                    p_trailing_failures, p_probe, p_probe_ok, p_threshold, p_cooldown_ms,
                                    p_cooldown_cap_ms, now()) t),
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
                                             date_trunc('second', r.open_until - now() + interval '0.5 second'))
                    ELSE format('%s consecutive failures (last: %s); open for %s', r.consecutive_failures,
                                left(coalesce(p_reason, 'error'), 200),
                                date_trunc('second', r.open_until - now() + interval '0.5 second'))
                END,
                p_delivery_id);
    END IF;
    IF r.state = 'open' AND v_from <> 'open' THEN
        UPDATE deliveries SET next_attempt_at = r.open_until, updated_at = now()
        WHERE id IN (
            SELECT id FROM deliveries
            WHERE breaker_key = p_key AND state = 'pending' AND next_attempt_at < r.open_until
            FOR UPDATE SKIP LOCKED
        );
    END IF;
    RETURN QUERY SELECT r.state, r.previous_state, r.open_until, r.version;
END
$fn$;

-- Claims the half-open probe for a breaker whose cool-down has passed. The row lock is held by the
-- caller's transaction across the probe's send: every other worker's claim skips the locked row (so
-- exactly one probe is in flight across all workers), and if the prober dies its transaction rolls
-- back and releases the claim.
CREATE FUNCTION breaker_claim_probe(p_key text)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SET search_path FROM CURRENT
AS $fn$
BEGIN
    PERFORM 1 FROM circuit_breakers
    WHERE key = p_key AND state = 'open' AND open_until <= now()
    FOR UPDATE SKIP LOCKED;
    RETURN FOUND;
END
$fn$;

-- `herald breakers reset KEY`: closes a breaker and makes the deliveries it held back due now.
CREATE FUNCTION breaker_reset(p_key text)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SET search_path FROM CURRENT
AS $fn$
DECLARE
    v_from text;
    v_until timestamptz;
BEGIN
    WITH old AS (SELECT key, open_until FROM circuit_breakers WHERE key = p_key FOR UPDATE)
    UPDATE circuit_breakers AS b
    SET previous_state = b.state, state = 'closed', consecutive_failures = 0, trips = 0, open_until = NULL,
        version = b.version + 1, updated_at = now()
    FROM old
    WHERE b.key = old.key
    RETURNING b.previous_state, old.open_until INTO v_from, v_until;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO circuit_breaker_events (breaker_key, from_state, to_state, reason)
    VALUES (p_key, v_from, 'closed', 'reset by operator');
    IF v_until IS NOT NULL THEN
        UPDATE deliveries SET next_attempt_at = now(), updated_at = now()
        WHERE breaker_key = p_key AND state = 'pending' AND next_attempt_at <= v_until AND next_attempt_at > now();
    END IF;
    RETURN true;
END
$fn$;
