-- 0023: every lease reports when the next pending delivery falls due, not only an empty one (issue #15).
--
-- A worker slot whose round leased less than a full batch took everything due, so it waits for a wake-up
-- instead of leasing again at once (the one-lease-per-ring change; docs/scaling.md). It must still come
-- back by itself when something falls due without a notification: a retry another slot wrote, rows a
-- breaker held back inside this very lease, a probe's wait. Until now the lease's status row carried that
-- time only when it leased nothing (`CASE WHEN v_count = 0`), so a slot that leased a few rows knew only
-- what its own round wrote, and the rest waited for the poll (`--poll-interval`, 1 s by default, up to
-- 60 s). Now the status row always carries it: one probe of the due index (`next_attempt_at > now()`,
-- about 0.03 ms per lease measured with pg_stat_statements), and the slot waits at most until then.
--
-- The function is otherwise unchanged: its text is taken from the catalogue and only that expression is
-- replaced, so this migration cannot drift from 0018's body (it fails if the expression is not found).

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

DO $do$
DECLARE
    v_old constant text := E'backlog_until := CASE WHEN v_count = 0 THEN\n        (SELECT min(d.next_attempt_at) FROM deliveries d WHERE d.state = ''pending'' AND d.next_attempt_at > now()) END;';
    v_new constant text := E'backlog_until :=\n        (SELECT min(d.next_attempt_at) FROM deliveries d WHERE d.state = ''pending'' AND d.next_attempt_at > now());';
    v_def text;
BEGIN
    SELECT pg_get_functiondef(p.oid) INTO STRICT v_def FROM pg_proc p
    WHERE p.pronamespace = current_schema()::regnamespace AND p.proname = 'delivery_lease';
    IF strpos(v_def, v_old) = 0 THEN
        RAISE EXCEPTION 'delivery_lease does not contain the status row expression migration 0023 replaces';
    END IF;
    EXECUTE replace(v_def, v_old, v_new);
END
$do$;
