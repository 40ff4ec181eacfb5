-- 0030: the search for other keys' due rows (0029) starts its next walk after the last key it served, not
-- back at the first key given the places left over, when its walk did not come round every key (issue #15).
--
-- Once every key a search found has had its share, the rows still wanted go to those keys in walk order
-- (the first found first), and 0029 then set the cursor to the last key given such a row, so that the extra
-- places go round the keys. That holds when the walk came round every pending key. When it stopped at its
-- limit of keys visited (32) first, that key sat near the start of the walk: the next search went back to
-- just after it and visited again the keys this one had served, and the walk crept on one due key a search.
-- Measured (FairShareTests.extraPlacesDoNotHoldTheWalkBack): six due keys eleven apart among 66, eight
-- places a search: the last was first served on the fourth search; now all are by the third.
--
-- The cursor moves to the key given extra places only when the walk came round (v_done); otherwise it stays
-- at the last key served by the shares, as when no place was left over. delivery_lease_other_keys is changed
-- only there: its text is taken from the catalogue and the one test replaced (the migration fails if it is
-- not found exactly once), as 0029 did to delivery_lease.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

DO $do$
DECLARE
    v_old constant text := 'IF v_got_keys IS NOT NULL THEN';
    v_new constant text := 'IF v_got_keys IS NOT NULL AND v_done THEN';
    v_def text;
BEGIN
    SELECT pg_get_functiondef(p.oid) INTO STRICT v_def FROM pg_proc p
    WHERE p.pronamespace = current_schema()::regnamespace AND p.proname = 'delivery_lease_other_keys';
    IF strpos(v_def, v_old) = 0 OR strpos(substr(v_def, strpos(v_def, v_old) + 1), v_old) <> 0 THEN
        RAISE EXCEPTION 'delivery_lease_other_keys does not test for extra places once as migration 0030 expects: %', v_old;
    END IF;
    EXECUTE replace(v_def, v_old, v_new);
END
$do$;
