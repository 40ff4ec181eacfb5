-- 0005: parking poison deliveries.
--
-- Every send is recorded (outcome 'unknown') on a separate connection before it starts, so a send whose
-- worker dies or wedges stays on record. A delivery whose last K attempts are all 'unknown' is parked as
-- dead instead of killing workers forever; a replay starts the count afresh from replayed_at.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

-- When an operator last replayed the delivery; interrupted sends before it no longer count.
ALTER TABLE deliveries ADD COLUMN replayed_at timestamptz;
