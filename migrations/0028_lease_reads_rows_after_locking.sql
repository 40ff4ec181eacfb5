-- 0028: the lease reads the rows it locked after locking them: the delivery, its endpoint, its message and
-- its breaker (issue #15).
--
-- 0027 moved the read of each leased delivery's attempts after the locks. The delivery's own columns, and
-- its endpoint's, message's and breaker's, were still read with the lease statement's snapshot, taken
-- before delivery_lease (VOLATILE: each of its queries sees what is committed by then) searched and
-- locked. A delivery enqueued in between was locked by the lease and invisible to the statement: its
-- columns read as NULL, and the worker took it for the lease's status row. It was not sent that round but
-- stayed locked until the round committed, and the real status row's readings (when the next row falls
-- due, how many more were due) were overwritten. Measured on an idle 2-core machine with four producers
-- enqueuing and two sessions leasing 16 at a time (pgbench, 10 s): 781 of 22,297 leased rows, 3.5%, were
-- locked unseen, in 13% of leases. The more the lease searches (0025, 0026), the more often.
--
-- A delivery seen, but with a retry recorded by another slot in between, also read its attempts count as it
-- was; and an endpoint or message created in the same transaction as the delivery (a first enqueue to a
-- URL, a publish) is invisible exactly when the delivery is.
--
-- lease_rows is VOLATILE plpgsql, so its query takes a snapshot when the lease calls it, after every lock;
-- every row it reads is one this transaction holds, or the endpoint, message and breaker of one. Its
-- columns are the lease's, less the lease's own (backlog_key, backlog_until, lease_excess, probe).
-- lease_attempt_history (0027) stays: it is called from here, and a worker of the previous release calls it
-- from its own statement during a rolling upgrade.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

-- The leased deliveries p_ids, as the worker sends them. Bodies up to p_inline_bytes come with the row;
-- larger ones are fetched in binary once the worker's byte budget admits them (body_bytes says how many).
-- p_default_cap is the window of endpoints that set no max_in_flight; an 'unknown' attempt started less
-- than p_resend_wait_ms ago makes resend_not_before.
CREATE FUNCTION lease_rows(p_ids bigint[], p_inline_bytes integer, p_default_cap integer, p_resend_wait_ms integer)
RETURNS TABLE (
    id bigint, idempotency_key text, body bytea, body_bytes integer, content_type text, headers jsonb,
    traceparent text, attempts integer, max_attempts integer, breaker_key text,
    endpoint_id bigint, url text, secret text, application_id text, endpoint_headers jsonb, request_timeout_ms integer,
    endpoint_failing boolean, previous_secret text, enabled boolean, disabled_reason text,
    endpoint_max_attempts integer, backoff_base_ms integer, backoff_cap_ms integer,
    breaker_failure_threshold integer, breaker_cooldown_ms integer, breaker_cooldown_cap_ms integer,
    rate_limit_per_minute integer, window_cap integer,
    breaker_state text, breaker_failures integer, send_window integer,
    attempt_number integer, interrupted integer, resend_not_before timestamptz)
LANGUAGE plpgsql
VOLATILE
SET search_path FROM CURRENT
AS $fn$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT d.id, d.idempotency_key,
           -- A message's deliveries share its payload, stored once (0012). octet_length reads the size
           -- without detoasting.
           CASE WHEN octet_length(coalesce(d.body, m.payload)) <= p_inline_bytes THEN coalesce(d.body, m.payload) END,
           octet_length(coalesce(d.body, m.payload)), d.content_type, d.headers, d.traceparent, d.attempts,
           d.max_attempts, d.breaker_key,
           e.id, e.url, e.secret, e.application_id, e.headers, e.request_timeout_ms,
           e.failing_since IS NOT NULL,
           CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret END,
           e.enabled, e.disabled_reason, e.max_attempts, e.backoff_base_ms, e.backoff_cap_ms,
           e.breaker_failure_threshold, e.breaker_cooldown_ms, e.breaker_cooldown_cap_ms, e.rate_limit_per_minute,
           coalesce(e.max_in_flight, p_default_cap),
           coalesce(b.state, 'closed'), coalesce(b.consecutive_failures, 0), b.send_window,
           h.h_finished + 1, h.h_interrupted,
           CASE WHEN h.h_last_unknown_at + make_interval(secs => p_resend_wait_ms / 1000.0) > now()
                THEN h.h_last_unknown_at + make_interval(secs => p_resend_wait_ms / 1000.0) END
    FROM deliveries d
    LEFT JOIN endpoints e ON e.id = d.endpoint_id
    LEFT JOIN messages m ON m.id = d.message_id
    LEFT JOIN circuit_breakers b ON b.key = d.breaker_key
    LEFT JOIN lease_attempt_history(p_ids) h ON h.h_id = d.id
    WHERE d.id = ANY (p_ids);
END
$fn$;
