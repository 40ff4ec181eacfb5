-- 0033: a delivery's endpoint is no longer checked by a foreign key; endpoint rows are never deleted instead
-- (issue #15).
--
-- Why: the foreign key's check locks the endpoint's row (FOR KEY SHARE) in every transaction that inserts a
-- delivery, until it commits. Producers enqueueing to one endpoint at once are several lockers of one row, and
-- PostgreSQL then makes a MultiXact of them: measured with eight pgbench connections calling enqueue() to ten
-- endpoints, 19,448 MultiXacts in 8 s of about 48,700 enqueues (four in ten). Each costs its creator WAL and
-- the MultiXact SLRUs; and every 400 million of them (autovacuum_multixact_freeze_max_age), 46 hours at that
-- rate, autovacuum must scan every table of the database aggressively to freeze, deliveries and attempts with
-- their kept history included. The check itself cost 0.015 ms of the machine's CPU per insert or more: a bare
-- INSERT of enqueue()'s row, 8 connections, three interleaved pairs, 0.174-0.183 ms with the key and
-- 0.160-0.164 without (another run's pairs are in docs/benchmarks.md, "What was fixed", item 12). Publishing to
-- several endpoints locked each of them the same way.
--
-- What the key gave, kept otherwise (as 0007 did for attempts): every path that inserts a delivery takes its
-- endpoint from the endpoint's row in the same function (enqueue, publish, operational events, the endpoint
-- test; a replay updates an existing delivery), and Herald never deletes an endpoint's row: `herald endpoints
-- delete` and endpoint_delete() hide it (deleted_at) and keep it for the deliveries and the audit trail that
-- refer to it. A DELETE or TRUNCATE of `endpoints` by hand, which the key refused once deliveries referred to
-- the row, is now refused for every row by the triggers below, with what to do instead; a race of such a
-- DELETE with an enqueue to the same endpoint therefore cannot leave a delivery without its endpoint.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

-- Deliberate, for the reason above (squawk: ban-drop-constraint).
-- squawk-ignore ban-drop-constraint
ALTER TABLE deliveries DROP CONSTRAINT deliveries_endpoint_id_fkey;

CREATE FUNCTION endpoints_are_kept() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    RAISE EXCEPTION USING ERRCODE = '55000',
        MESSAGE = 'endpoint rows are not deleted: deliveries and their audit trail refer to them',
        HINT = format('Delete an endpoint with herald endpoints delete ID (SQL: SELECT %I.endpoint_delete(ID)), which '
                      'hides it and keeps its history; nothing was deleted.', TG_TABLE_SCHEMA);
END
$fn$;

CREATE TRIGGER endpoints_kept_on_delete BEFORE DELETE ON endpoints
    FOR EACH ROW EXECUTE FUNCTION endpoints_are_kept();
CREATE TRIGGER endpoints_kept_on_truncate BEFORE TRUNCATE ON endpoints
    FOR EACH STATEMENT EXECUTE FUNCTION endpoints_are_kept();
