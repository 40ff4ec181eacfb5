-- 0019: one wake-up notifier at a time (issue #15, steady state).
--
-- Every producer transaction used to NOTIFY the workers. PostgreSQL serialises the commits of notifying
-- transactions: each holds the notification queue's lock from just before its commit record until its end,
-- across the commit's WAL flush, so producers' commits could not share a flush (group commit) and
-- enqueue + deliver together ran at a fifth of the drain rate.
--
-- Now a transaction that queued a due delivery notifies at its commit only if no other notifying
-- transaction is committing at that moment: a deferred constraint trigger on deliveries runs
-- `wake_workers()` just before the commit, which takes a transaction-level advisory lock with a try-lock
-- and notifies only when it got it. A transaction that finds the lock taken leaves the wake-up to the one
-- holding it, which is committing at that very moment, so its notification reaches the workers at about
-- the same time as our commit. The try happens at commit, not at enqueue: a producer whose business
-- transaction goes on for seconds after `enqueue()` cannot hold back anybody's wake-up.
--
-- What can be lost: a worker woken by the other transaction's notification may lease before our commit is
-- visible and find nothing. Our delivery then waits for the next thing that makes a slot lease: another
-- notification, a slot that finishes a round with work, or at the latest the worker's poll
-- (`--poll-interval`, default 1 s). No delivery waits longer than the poll interval for want of a
-- notification (tests/WakeupDebounceTests). At low load no two commits overlap and every commit notifies.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

-- The wake-up lock: advisory lock (class, 0) in the two-integer space, apart from the permits' classes by
-- its key's prefix; the schema is part of the hash so two Herald schemas never share it.
CREATE FUNCTION wake_workers()
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path FROM CURRENT
AS $fn$
BEGIN
    IF pg_try_advisory_xact_lock(hashtext(current_schema() || ':wake-up'), 0) THEN
        PERFORM pg_notify(current_schema() || '.enqueued', '');
    END IF;
END
$fn$;

-- The trigger's function: once per transaction (a transaction-local setting remembers the first call), so
-- a fan-out of a thousand rows tries the lock once.
CREATE FUNCTION deliveries_wake_at_commit()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SET search_path FROM CURRENT
AS $fn$
BEGIN
    IF coalesce(current_setting('herald.wake_tried', true), '') <> 'on' THEN
        PERFORM set_config('herald.wake_tried', 'on', true);
        PERFORM wake_workers();
    END IF;
    RETURN NULL;
END
$fn$;

-- Deferred to the commit; only rows due within the poll's reach queue an event (the WHEN clause is
-- checked at insert time), so a bulk insert of future rows queues nothing.
CREATE CONSTRAINT TRIGGER deliveries_wake_workers
    AFTER INSERT ON deliveries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN (NEW.state = 'pending' AND NEW.next_attempt_at <= now() + interval '1 second')
    EXECUTE FUNCTION deliveries_wake_at_commit();

-- The functions that notified at enqueue time leave it to the trigger: the same text minus their
-- `PERFORM pg_notify(…)`, recreated in place (CREATE OR REPLACE keeps their grants and signatures).
DO $do$
DECLARE
    f record;
    v_def text;
BEGIN
    FOR f IN
        SELECT p.oid FROM pg_proc p
        WHERE p.pronamespace = current_schema()::regnamespace AND p.prokind = 'f'
          AND p.proname <> 'wake_workers'
          AND p.prosrc LIKE '%pg_notify(current_schema() || ''.enqueued'', '''')%'
    LOOP
        v_def := replace(pg_get_functiondef(f.oid),
                         'PERFORM pg_notify(current_schema() || ''.enqueued'', '''');',
                         'NULL; -- the wake-up is deliveries_wake_workers'' (migration 0019)');
        EXECUTE v_def;
    END LOOP;
END
$do$;
