-- 0033: a round's completion is a function, so that its statement is planned once per session and never
-- keeps a sequential scan made while the tables were small (issue #15, many slots; as 0032 did for the lease).
--
-- The completion (each delivery's new state, its attempt row's outcome, the journal rows of sends held back)
-- was one statement the worker sent as text, planned on every round: with 256 slots of batch 1 its planning
-- took 8.7 s, waits included, in 5 s of run (pg_stat_statements, track_planning), each plan a lock on every
-- index of deliveries and attempts through the lock manager. A prepared statement cannot help: its generic
-- plan, made while attempts was empty, kept scanning it as it grew (docs/benchmarks.md, "Tried and not
-- kept"). A function can carry the settings 0032 gave the lease's functions: plans made once per session,
-- no sequential scans, no JIT. The statement is the worker's, unchanged; the worker of the previous release
-- keeps sending its own during a rolling upgrade.
--
-- p_completions: one object per delivery, the columns below (Completion.json in the worker). Returns how
-- many deliveries were updated (pending ones only) and how many attempt rows got their outcome.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

CREATE FUNCTION delivery_complete(p_completions jsonb)
RETURNS TABLE (updated_count integer, logged_count integer)
LANGUAGE plpgsql
VOLATILE
SET search_path FROM CURRENT
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET jit = off
AS $fn$
BEGIN
    RETURN QUERY
    WITH input AS (
        SELECT * FROM jsonb_to_recordset(p_completions) AS x(
            delivery_id bigint, attempt integer, state text, attempts integer, next_attempt_at timestamptz,
            status_code integer, error text, started_at timestamptz, duration_ms integer, request_headers jsonb,
            response_excerpt text, retryable boolean, outcome text, worker_id text, log_attempt boolean,
            attempt_id bigint, interrupted integer)
    ), done AS (
        UPDATE deliveries d
        SET state = i.state,
            attempts = coalesce(i.attempts, d.attempts),
            next_attempt_at = coalesce(i.next_attempt_at, d.next_attempt_at),
            last_status = coalesce(i.status_code, d.last_status),
            -- A deferral (no send) keeps the last error; an attempt replaces it.
            last_error = CASE WHEN i.log_attempt THEN i.error ELSE coalesce(i.error, d.last_error) END,
            updated_at = now(),
            interrupted_sends = coalesce(i.interrupted, d.interrupted_sends),
            -- clock_timestamp(): now() is the lease's start, before the send.
            finished_at = CASE WHEN i.state <> 'pending' THEN clock_timestamp() END
        FROM input i
        WHERE d.id = i.delivery_id AND d.state = 'pending'
        RETURNING d.id
    ), outcomes AS (
        -- The attempt row was written before the send (outcome 'unknown'); now it gets its outcome.
        UPDATE attempts a
        SET started_at = i.started_at, duration_ms = i.duration_ms, status_code = i.status_code,
            request_headers = i.request_headers, response_excerpt = i.response_excerpt, error = i.error,
            retryable = i.retryable, next_attempt_at = i.next_attempt_at, outcome = i.outcome
        FROM input i
        WHERE i.log_attempt AND a.id = i.attempt_id
        RETURNING 1
    ), dropped AS (
        -- Journaled, then held back unsent (its breaker tripped mid-batch): no attempt happened.
        DELETE FROM attempts a
        USING input i
        WHERE NOT i.log_attempt AND i.attempt_id IS NOT NULL AND a.id = i.attempt_id
    )
    SELECT (SELECT count(*) FROM done)::int, (SELECT count(*) FROM outcomes)::int;
END
$fn$;
