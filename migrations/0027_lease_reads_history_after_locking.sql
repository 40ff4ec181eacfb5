-- 0027: the lease reads each leased delivery's attempt history after it has locked the row (issue #15).
--
-- The lease is one statement: `delivery_lease(…)` locks the rows, and the statement around it reads each
-- row's attempts, which decide whether the last send was interrupted (`interrupted`, poison) and when such
-- a send's request can no longer be open (`resend_not_before`). The statement's reads use its snapshot,
-- taken when it starts; the function's own queries, being VOLATILE, each take a new one. So a lease could
-- lock a row as it is now and read its attempts as they were when the statement began. Between the two
-- lies the lease's search (migrations 0025, 0026), and on a session's first lease the planning of both
-- functions: tens of milliseconds under load. If in that moment another slot wrote an 'unknown' journal
-- row, sent, and then released the row (its completion refused, its transaction rolled back), this lease
-- saw no 'unknown' row and sent the delivery again at once, overlapping nothing but repeating an answered
-- send: `FlowControlTests.refusedCompletionFailsAlone` saw 15 requests for 10 (CI, full suite).
--
-- lease_attempt_history is VOLATILE and plpgsql, so its query takes a snapshot when the lease calls it,
-- after every lock: a journal row committed before the row's previous holder let go of it is seen.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

CREATE FUNCTION lease_attempt_history(p_ids bigint[])
RETURNS TABLE (h_id bigint, h_finished integer, h_last_finished_id bigint, h_last_unknown_at timestamptz, h_interrupted integer)
LANGUAGE plpgsql
VOLATILE
SET search_path FROM CURRENT
AS $fn$
BEGIN
    RETURN QUERY
    SELECT d.id, h.finished, h.last_finished_id, h.last_unknown_at,
           -- Sends after the last finished one (and after a replay) whose worker never recorded an outcome.
           (SELECT count(*) FROM attempts a
            WHERE a.delivery_id = d.id AND a.outcome = 'unknown' AND a.started_at > coalesce(d.replayed_at, '-infinity')
              AND a.id > coalesce(h.last_finished_id, 0))::int
    FROM deliveries d
    -- The delivery's attempt history in one index walk: finished attempts (numbering), the last of them,
    -- the last send that never finished.
    CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE f.outcome NOT IN ('unknown', 'interrupted'))::int AS finished,
               max(f.id) FILTER (WHERE f.outcome NOT IN ('unknown', 'interrupted')) AS last_finished_id,
               max(f.started_at) FILTER (WHERE f.outcome = 'unknown') AS last_unknown_at
        FROM attempts f WHERE f.delivery_id = d.id
    ) h
    WHERE d.id = ANY (p_ids);
END
$fn$;
