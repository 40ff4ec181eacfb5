-- 0007: attempt rows no longer carry a foreign key to their delivery.
--
-- Why: a worker journals each send's attempt row on a second connection while its lease holds the
-- delivery row FOR NO KEY UPDATE. The foreign key's check takes FOR KEY SHARE on that same row, and two
-- lockers of one row make PostgreSQL create a MultiXact for it, which every later visitor of the row
-- (the completion's UPDATE, other workers' lease scans passing its dead version) must look up. Measured
-- with scripts/bench.py's drain: at 1 x 8 x 1, 452 -> 849 deliveries/s (4.16 -> 2.21 ms of machine CPU
-- per delivery); at the default 1 x 8 x 16, 3,456 -> 4,776/s.
--
-- What the key gave, kept otherwise: attempt rows are only written for a delivery the writer holds
-- leased (so it exists), and `herald prune` deletes a delivery's attempts in the same statement as the
-- delivery (it relied on ON DELETE CASCADE before).

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

-- Deliberate, for the reason above (squawk: ban-drop-constraint).
-- squawk-ignore ban-drop-constraint
ALTER TABLE attempts DROP CONSTRAINT attempts_delivery_id_fkey;
