-- 0011: every worker says it is alive, so an operator can see the fleet (issue #16).
--
-- Why: "how many workers are running, where, and are they busy?" had no answer short of logging into
-- every host. Each worker upserts its own row every few seconds (one small UPSERT on its own connection,
-- see Sources/Herald/Worker/WorkerHeartbeat.swift); `herald workers` lists the rows, and a row whose last
-- heartbeat is older than three of its worker's heartbeat intervals belongs to a worker that went silent
-- (killed, frozen, or cut off from the database). Times are the database's clock, so workers on hosts
-- whose clocks disagree are still compared fairly.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

CREATE TABLE worker_heartbeats (
    -- The worker's --worker-id (host-pid-random by default): also what the attempt log names.
    worker_id text PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    version text NOT NULL,
    -- When this process first beat (database clock); a restart under the same --worker-id resets it.
    started_at timestamptz NOT NULL DEFAULT now(),
    -- --concurrency: delivery slots, each with its own connection.
    slots integer NOT NULL,
    -- HTTP sends open at the last heartbeat.
    sends_in_flight integer NOT NULL DEFAULT 0,
    -- When the worker last started a send (database clock, as of the last heartbeat); NULL before its first.
    last_send_at timestamptz,
    -- The worker's --heartbeat-interval: "silent" is judged per worker, as 3 x this.
    heartbeat_interval_ms integer NOT NULL,
    last_heartbeat_at timestamptz NOT NULL DEFAULT now(),
    -- Set when graceful shutdown began (SIGTERM/SIGINT); NULL while running. A killed worker never sets it.
    stopped_at timestamptz,
    CONSTRAINT worker_heartbeats_id_length CHECK (length(worker_id) BETWEEN 1 AND 128),
    CONSTRAINT worker_heartbeats_slots CHECK (slots >= 1),
    CONSTRAINT worker_heartbeats_interval CHECK (heartbeat_interval_ms > 0)
);

COMMENT ON TABLE worker_heartbeats IS
    'One row per worker process, upserted every --heartbeat-interval; `herald workers` lists them, `herald prune` removes rows silent for over a day.';
