-- 0001: Herald's tables.
--
-- `herald migrate` runs this file in one transaction with search_path set to Herald's schema (default
-- `herald`), so the names below are unqualified: the same file serves any schema name.

-- Workers may be running while a migration does: never wait long for a lock or run away.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

-- Which migrations this schema has run. `herald migrate` reads it to find what is pending and compares
-- checksums so that a file edited after it was applied is an error, not a silent divergence.
CREATE TABLE schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- A destination. Deliveries point here instead of repeating the URL so that a secret rotation, a
-- disable or a retry-policy override applies to every queued delivery at once.
CREATE TABLE endpoints (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url text NOT NULL,
    -- Standard Webhooks secret, `whsec_` + base64 of 24..64 random bytes. Never logged.
    secret text NOT NULL,
    -- The secret before the last rotation; signatures carry both until previous_secret_expires_at.
    previous_secret text,
    previous_secret_expires_at timestamptz,
    enabled boolean NOT NULL DEFAULT true,
    disabled_reason text,
    -- Per-endpoint overrides; NULL means "the worker's setting".
    max_attempts integer,
    backoff_base_ms integer,
    backoff_cap_ms integer,
    -- Endpoints naming the same key share one circuit breaker (e.g. several paths on one host).
    -- NULL means the endpoint has a breaker of its own, keyed 'endpoint:<id>'.
    breaker_key text,
    breaker_failure_threshold integer,
    breaker_cooldown_ms integer,
    breaker_cooldown_cap_ms integer,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- Enqueueing by URL finds-or-creates the endpoint: one row per URL keeps that race-free
    -- (INSERT … ON CONFLICT (url)).
    CONSTRAINT endpoints_url_key UNIQUE (url),
    -- Defence in depth behind the application's own URL validation: only http(s) targets.
    CONSTRAINT endpoints_url_scheme CHECK (url ~ '^https?://'),
    CONSTRAINT endpoints_secret_format CHECK (secret ~ '^whsec_[A-Za-z0-9+/=]+$'),
    -- A disabled endpoint must say why, so an operator reading the row knows whether to re-enable it.
    CONSTRAINT endpoints_disabled_reason CHECK (enabled OR disabled_reason IS NOT NULL),
    CONSTRAINT endpoints_max_attempts CHECK (max_attempts BETWEEN 1 AND 50),
    CONSTRAINT endpoints_backoff CHECK (backoff_base_ms >= 1000 AND backoff_cap_ms >= backoff_base_ms),
    CONSTRAINT endpoints_breaker_threshold CHECK (breaker_failure_threshold BETWEEN 1 AND 1000),
    CONSTRAINT endpoints_breaker_cooldown CHECK (
        breaker_cooldown_ms >= 1000 AND breaker_cooldown_cap_ms >= breaker_cooldown_ms
    )
);

-- The queue: one row per webhook to deliver, kept after it ends as the audit record.
CREATE TABLE deliveries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id bigint NOT NULL REFERENCES endpoints (id),
    event_type text NOT NULL DEFAULT '',
    -- The producer's own id for the event; enqueueing the same (endpoint, event_id) twice returns the
    -- first delivery (see deliveries_endpoint_event_key).
    event_id text,
    -- Generated once at enqueue (`msg_` + time-ordered id) and sent on every attempt as `webhook-id` and
    -- `Idempotency-Key`, so the receiver can drop duplicates of an at-least-once delivery.
    idempotency_key text NOT NULL,
    -- The body exactly as given; every attempt sends these bytes.
    body bytea NOT NULL,
    content_type text NOT NULL DEFAULT 'application/json',
    -- Extra request headers, a JSON object of name → value, validated at enqueue.
    headers jsonb NOT NULL DEFAULT '{}',
    state text NOT NULL DEFAULT 'pending',
    -- Attempts that reached an outcome (interrupted sends are counted in interrupted_sends instead).
    attempts integer NOT NULL DEFAULT 0,
    -- Per-delivery override; NULL means the endpoint's setting, else the worker's.
    max_attempts integer,
    -- When the delivery is due; the lease picks due pending rows in this order.
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- The breaker key resolved at enqueue, so that deferring every delivery behind an open breaker is one
    -- indexed UPDATE (deliveries_breaker_pending_idx) instead of a join on every lease.
    breaker_key text NOT NULL,
    -- Sends begun but never finished (worker killed or wedged); a poison delivery is parked after a few.
    interrupted_sends integer NOT NULL DEFAULT 0,
    last_status integer,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- Set when the delivery reaches a terminal state; prune and the audit views use it.
    finished_at timestamptz,
    CONSTRAINT deliveries_idempotency_key_key UNIQUE (idempotency_key),
    -- Producer-side deduplication. NULL event ids never collide, so events without an id are all kept.
    CONSTRAINT deliveries_endpoint_event_key UNIQUE (endpoint_id, event_id),
    CONSTRAINT deliveries_state CHECK (state IN ('pending', 'delivered', 'failed', 'dead', 'cancelled')),
    CONSTRAINT deliveries_attempts CHECK (attempts BETWEEN 0 AND 50),
    CONSTRAINT deliveries_max_attempts CHECK (max_attempts BETWEEN 1 AND 50),
    -- Terminal rows carry their end time; pending rows do not.
    CONSTRAINT deliveries_finished CHECK ((state = 'pending') = (finished_at IS NULL))
);

-- The lease: "due pending deliveries, oldest first". A partial index holds only pending rows, so it
-- stays small however many finished deliveries the table keeps for the audit trail.
CREATE INDEX deliveries_due_idx ON deliveries (next_attempt_at) WHERE state = 'pending';

-- Deferring (or releasing) every pending delivery behind one breaker key when it opens (or closes).
CREATE INDEX deliveries_breaker_pending_idx ON deliveries (breaker_key, next_attempt_at) WHERE state = 'pending';

-- `herald deliveries list --endpoint`, and the foreign key check when an endpoint row is deleted.
CREATE INDEX deliveries_endpoint_created_idx ON deliveries (endpoint_id, created_at);

-- Pruning old terminal deliveries in batches, oldest first, without scanning pending rows.
CREATE INDEX deliveries_finished_idx ON deliveries (finished_at) WHERE finished_at IS NOT NULL;

-- Circuit-breaker state shared by every worker process. Changed only by single atomic statements
-- (INSERT … ON CONFLICT DO UPDATE … RETURNING, or a conditional UPDATE … RETURNING).
CREATE TABLE circuit_breakers (
    key text PRIMARY KEY,
    state text NOT NULL DEFAULT 'closed',
    consecutive_failures integer NOT NULL DEFAULT 0,
    -- Trips since the breaker last closed; the cool-down grows with it up to a cap.
    trips integer NOT NULL DEFAULT 0,
    opened_at timestamptz,
    -- While open: when a probe may be sent (the breaker becomes half-open).
    open_until timestamptz,
    -- Lifetime counters, for health views and for checking concurrent updates against a replay.
    total_successes bigint NOT NULL DEFAULT 0,
    total_failures bigint NOT NULL DEFAULT 0,
    -- Bumped by every update: orders concurrent updates, so a test can replay them sequentially.
    version bigint NOT NULL DEFAULT 0,
    -- The state before the last update; the update that changed it records a breaker event.
    previous_state text NOT NULL DEFAULT 'closed',
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT circuit_breakers_state CHECK (state IN ('closed', 'open', 'half_open')),
    CONSTRAINT circuit_breakers_counts CHECK (consecutive_failures >= 0 AND trips >= 0),
    -- An open breaker always knows when it may half-open.
    CONSTRAINT circuit_breakers_open_until CHECK (state <> 'open' OR open_until IS NOT NULL)
);

-- Every breaker transition, so `psql` shows when and why a breaker opened and closed.
CREATE TABLE circuit_breaker_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    breaker_key text NOT NULL,
    from_state text NOT NULL,
    to_state text NOT NULL,
    reason text NOT NULL,
    -- The delivery whose outcome caused the transition, if any (NULL for `herald breakers reset`).
    delivery_id bigint,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- A breaker's history, newest first.
CREATE INDEX circuit_breaker_events_key_idx ON circuit_breaker_events (breaker_key, created_at);

-- The attempt log: one row per send, written in the same transaction that records its outcome (or, for
-- a send interrupted by a crash, left with outcome 'unknown').
CREATE TABLE attempts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Cascade: pruning a delivery removes its attempts with it.
    delivery_id bigint NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    -- Not unique: an interrupted send and its retry carry the same number.
    attempt integer NOT NULL,
    worker_id text NOT NULL,
    started_at timestamptz NOT NULL,
    duration_ms integer,
    status_code integer,
    -- The headers sent, signature included; never a secret.
    request_headers jsonb NOT NULL DEFAULT '{}',
    -- A bounded excerpt of the response body.
    response_excerpt text,
    -- Bounded and redacted error text.
    error text,
    retryable boolean,
    next_attempt_at timestamptz,
    outcome text NOT NULL,
    CONSTRAINT attempts_outcome CHECK (outcome IN ('delivered', 'retry', 'failed', 'dead', 'unknown')),
    -- Keep stored excerpts bounded whatever an endpoint sends.
    CONSTRAINT attempts_bounded CHECK (length(response_excerpt) <= 4096 AND length(error) <= 4096)
);

-- A delivery's timeline, and the cascade when a delivery is pruned.
CREATE INDEX attempts_delivery_idx ON attempts (delivery_id, started_at);

-- Health views over "the last hour".
CREATE INDEX attempts_started_idx ON attempts (started_at);
