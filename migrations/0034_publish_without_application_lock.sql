-- 0034: a message's application is no longer checked by a foreign key; application rows are never deleted
-- instead (issue #15; the same reasoning as 0033 for endpoints).
--
-- Why: the foreign key from `messages` to `applications` locked the application's row (FOR KEY SHARE) in every
-- publishing transaction until it committed, so producers publishing to one application at once made
-- MultiXacts of its row, as enqueue() did of its endpoint's (0033): each costs WAL and the MultiXact SLRUs, and
-- every 400 million of them autovacuum must scan every table aggressively, the kept history included. One
-- application taking most of the traffic is the usual case. Measured (eight pgbench connections calling
-- publish() to one application of ten endpoints, 8 s each, no worker, three interleaved pairs, 0033 in both):
-- 22,391 / 24,807 / 24,661 MultiXacts with the key, about one per publish, and none without; 2,802 / 3,102 /
-- 3,083 publishes/s against 3,064 / 3,217 / 3,211, at 0.649 / 0.593 / 0.599 ms of machine CPU each against
-- 0.605 / 0.573 / 0.581.
--
-- What the key gave, kept otherwise: publish_with_outcome creates the application if it is missing before it
-- inserts the message, the operational events and the endpoint test take theirs from existing rows, and
-- Herald never deletes an application's row (there is no such command or route). A DELETE of `applications`
-- by hand, or a TRUNCATE … CASCADE, is refused for every row by the triggers below (a plain TRUNCATE was and is
-- refused by the foreign keys endpoints and API tokens keep to it: those rows are written rarely).

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

-- Deliberate, for the reason above (squawk: ban-drop-constraint).
-- squawk-ignore ban-drop-constraint
ALTER TABLE messages DROP CONSTRAINT messages_application_id_fkey;

CREATE FUNCTION applications_are_kept() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    RAISE EXCEPTION USING ERRCODE = '55000',
        MESSAGE = 'application rows are not deleted: messages, endpoints and their audit trail refer to them',
        HINT = 'An application stays; to stop its deliveries delete its endpoints (herald endpoints list --app APP, then herald endpoints delete ID). Nothing was deleted.';
END
$fn$;

CREATE TRIGGER applications_kept_on_delete BEFORE DELETE ON applications
    FOR EACH ROW EXECUTE FUNCTION applications_are_kept();
CREATE TRIGGER applications_kept_on_truncate BEFORE TRUNCATE ON applications
    FOR EACH STATEMENT EXECUTE FUNCTION applications_are_kept();
