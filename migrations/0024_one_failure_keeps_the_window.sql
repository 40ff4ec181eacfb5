-- 0024: one failure among successes no longer narrows a key's window to 1; two in a row still do (issue #15).
--
-- The lease gave a key a window of 1 whenever its breaker row had any consecutive failure, until a batch
-- recorded a success. With an endpoint that answers 5% of requests with 500 (a buggy payload, a flaky
-- dependency), about one batch in twenty ends with a failure, and each time the whole endpoint went to one
-- request in flight until the next round committed. A round commits when its slowest send ends, so when
-- that one permitted send shared its round with a slow answer (1% after 800 ms in the soak), every due
-- delivery of the endpoint waited for it: the soak's p99 of 1.6-1.9 s from commit to first send. Measured
-- on the bench machine, 90 s at 904/s, 5% 500 and 1% after 800 ms (docs/benchmarks.md, "Soak"): p99
-- 1,726 ms before, 287-438 ms with the window kept after a single failure.
--
-- A recorded failure still halves the window (breaker_record, unchanged), and a second consecutive one
-- brings it to 1. The fleet-wide bound holds: requests in flight never exceed the window the key had
-- before its first failure, and the breaker opens at the threshold, so a dead endpoint gets at most about
-- window + threshold requests (FlowControlTests: 5-6 for a new key when its failures are recorded one
-- round at a time, breakerBoundOnePerBatch). What changes is between the first and the second recorded
-- failure: a key that was at a large window keeps half of it there, where it had 1.
--
-- Successes also reset the count reliably now (BreakerRecord.onlyIfUnsteady, no schema change): with
-- the window kept, failures from rounds leased before the first was recorded, whose successes were not
-- written, added up to trips of healthy endpoints (2 in the first 10-minute soak with this rule).
--
-- As in 0023, the function's text is taken from the catalogue and only that expression is replaced (the
-- migration fails if it is not found).

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

DO $do$
DECLARE
    v_old constant text := 'WHEN coalesce(b.consecutive_failures, 0) > 0 OR s.ordered THEN 1';
    v_new constant text := 'WHEN coalesce(b.consecutive_failures, 0) > 1 OR s.ordered THEN 1';
    v_def text;
BEGIN
    SELECT pg_get_functiondef(p.oid) INTO STRICT v_def FROM pg_proc p
    WHERE p.pronamespace = current_schema()::regnamespace AND p.proname = 'delivery_lease';
    IF strpos(v_def, v_old) = 0 THEN
        RAISE EXCEPTION 'delivery_lease does not contain the window expression migration 0024 replaces';
    END IF;
    EXECUTE replace(v_def, v_old, v_new);
END
$do$;
