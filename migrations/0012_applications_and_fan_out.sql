-- 0012: applications, subscriptions, messages fanned out to endpoints, endpoints that manage their own
-- lifecycle (issue #13; docs/applications.md).
--
-- Why: a team sending webhooks to its customers thinks in customers (applications), the endpoints each
-- customer registered, and events each endpoint subscribed to. Before this, the producer had to know every
-- URL and enqueue once per URL, endpoints were unique by URL across the system (two customers with the same
-- URL shared one signing secret), and a dead customer endpoint stayed pending forever.
--
-- What stays: `enqueue(url, …)` is the direct path, into the application 'default'; every endpoint and
-- delivery that exists when this runs belongs to 'default' and keeps being delivered as before. The lease,
-- journal, breaker and completion work on deliveries exactly as before; a delivery of a message reads the
-- message's payload (stored once) instead of a body of its own.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

-- A tenant: one per customer of Herald's user, keyed by the producer's own customer id.
CREATE TABLE applications (
    id text PRIMARY KEY,
    name text NOT NULL,
    -- Finished deliveries (with their attempts and messages) of this application are pruned after this
    -- many days by `herald prune`, whatever its --older-than; NULL: the --older-than of the prune run.
    retention_days integer,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- The producer's id, usable in URLs and on command lines; ids starting with '_' are Herald's own.
    CONSTRAINT applications_id CHECK (id ~ '^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,127}$'),
    CONSTRAINT applications_name CHECK (length(name) BETWEEN 1 AND 256),
    CONSTRAINT applications_retention CHECK (retention_days BETWEEN 1 AND 3650)
);

-- Where `enqueue(url, …)` puts its endpoints, and where everything that existed before this migration is.
INSERT INTO applications (id, name) VALUES ('default', 'Default application');

-- Operational webhooks (endpoint.disabled, endpoint.enabled, message.attempt.exhausted) are published to
-- this application: an operator who registers an endpoint in it receives them, signed like any other.
INSERT INTO applications (id, name) VALUES ('_operations', 'Herald operational events');

-- Endpoints belong to one application. The default makes every existing endpoint a 'default' one; the
-- table is small (one row per destination), so the foreign key is checked at once.
-- squawk-ignore adding-foreign-key-constraint
ALTER TABLE endpoints ADD COLUMN application_id text NOT NULL DEFAULT 'default' REFERENCES applications (id);
ALTER TABLE endpoints ADD COLUMN description text NOT NULL DEFAULT '';
-- Subscriptions: exact event types and prefix wildcards ('invoice.*'); NULL or empty: every type.
ALTER TABLE endpoints ADD COLUMN event_types text[];
-- Channels: NULL receives every message; otherwise only messages naming one of these channels.
ALTER TABLE endpoints ADD COLUMN channels text[];
-- Extra request headers of this endpoint (e.g. the receiver's Authorization), JSON name → value; values
-- may be sealed like deliveries' headers. They win over a message's headers of the same name.
ALTER TABLE endpoints ADD COLUMN headers jsonb NOT NULL DEFAULT '{}';
-- A request timeout shorter than the worker's (never longer: the lease is sized by the worker's).
ALTER TABLE endpoints ADD COLUMN request_timeout_ms integer
    CONSTRAINT endpoints_request_timeout CHECK (request_timeout_ms BETWEEN 100 AND 300000);
ALTER TABLE endpoints ADD COLUMN disabled_at timestamptz;
-- Since when every attempt to this endpoint failed (NULL after a success): a worker disables the endpoint
-- when this is older than its --disable-failing-after (default 5 days).
ALTER TABLE endpoints ADD COLUMN failing_since timestamptz;

-- One endpoint per (application, URL): the same URL in two applications is two endpoints with two
-- secrets. enqueue(url) finds-or-creates in 'default' through this index (INSERT … ON CONFLICT).
-- squawk-ignore require-concurrent-index-creation
CREATE UNIQUE INDEX endpoints_application_url_key ON endpoints (application_id, url);
-- squawk-ignore ban-drop-constraint
ALTER TABLE endpoints DROP CONSTRAINT endpoints_url_key;

-- One event: the payload is stored once here, whatever the number of endpoints it fans out to.
CREATE TABLE messages (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id text NOT NULL REFERENCES applications (id),
    event_type text NOT NULL,
    -- The producer's id for the event; publishing the same (application, event id) twice is one message.
    event_id text,
    -- NULL once `herald prune --payloads-older-than` dropped it (the audit rows stay).
    payload bytea,
    content_type text NOT NULL DEFAULT 'application/json',
    channels text[],
    created_at timestamptz NOT NULL DEFAULT now(),
    payload_pruned_at timestamptz,
    CONSTRAINT messages_application_event_key UNIQUE (application_id, event_id),
    CONSTRAINT messages_payload CHECK (payload IS NOT NULL OR payload_pruned_at IS NOT NULL)
);

-- `herald messages list --app`, retention and payload pruning by age.
CREATE INDEX messages_application_created_idx ON messages (application_id, created_at);
CREATE INDEX messages_created_idx ON messages (created_at);

-- A delivery of a message reads the message's payload: its own body is NULL.
-- squawk-ignore adding-foreign-key-constraint
ALTER TABLE deliveries ADD COLUMN message_id bigint REFERENCES messages (id);
-- Readers of deliveries.body (Herald's lease, an operator's psql) read coalesce(body, message payload).
-- squawk-ignore ban-drop-not-null
ALTER TABLE deliveries ALTER COLUMN body DROP NOT NULL;
-- `herald messages show`, and the foreign key check when a message is pruned.
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX deliveries_message_idx ON deliveries (message_id) WHERE message_id IS NOT NULL;

-- What happened to an endpoint: disabled (by an operator, a 410, sustained failure) and enabled.
CREATE TABLE endpoint_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id bigint NOT NULL,
    application_id text NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    what text NOT NULL,
    reason text,
    -- The database role for an operator's action, 'herald worker' for the worker's own decisions.
    actor text NOT NULL DEFAULT session_user,
    CONSTRAINT endpoint_events_what CHECK (what IN ('disabled', 'enabled'))
);

CREATE INDEX endpoint_events_endpoint_idx ON endpoint_events (endpoint_id, at);

-- Why an application id, event type, type pattern or channel is refused, or NULL.
CREATE FUNCTION application_id_problem(p_id text)
RETURNS text
LANGUAGE sql
IMMUTABLE
AS $fn$
    SELECT CASE
        WHEN p_id IS NULL THEN 'the application id is NULL'
        WHEN p_id !~ '^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$' AND p_id <> '_operations'
            THEN format('invalid application id %s: use 1 to 128 letters, digits and _ . : @ -, starting with a letter or digit', left(p_id, 140))
    END;
$fn$;

CREATE FUNCTION event_type_problem(p_type text)
RETURNS text
LANGUAGE sql
IMMUTABLE
AS $fn$
    SELECT CASE
        WHEN p_type IS NULL OR p_type = '' THEN 'the event type is empty'
        WHEN p_type !~ '^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,254}$'
            THEN format('invalid event type %s: use up to 255 letters, digits and _ . : / -, e.g. invoice.paid', left(p_type, 100))
    END;
$fn$;

CREATE FUNCTION event_type_pattern_problem(p_pattern text)
RETURNS text
LANGUAGE sql
IMMUTABLE
AS $fn$
    SELECT CASE
        WHEN p_pattern IS NULL THEN 'an event type pattern is NULL'
        WHEN p_pattern = '*' THEN NULL
        WHEN p_pattern !~ '^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,252}(\.\*)?$'
            THEN format('invalid event type pattern %s: use an exact type (invoice.paid), a prefix wildcard (invoice.*) or *', left(p_pattern, 100))
    END;
$fn$;

CREATE FUNCTION channel_problem(p_channel text)
RETURNS text
LANGUAGE sql
IMMUTABLE
AS $fn$
    SELECT CASE
        WHEN p_channel IS NULL OR p_channel !~ '^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$'
            THEN format('invalid channel %s: use 1 to 128 letters, digits and _ . : @ -', left(coalesce(p_channel, 'NULL'), 140))
    END;
$fn$;

-- Does an endpoint subscribed to p_patterns receive p_type? NULL or empty: every type; '*': every type;
-- 'invoice.*': every type starting with 'invoice.'; anything else: that exact type.
CREATE FUNCTION event_type_matches(p_patterns text[], p_type text)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
AS $fn$
    SELECT p_patterns IS NULL OR cardinality(p_patterns) = 0 OR EXISTS (
        SELECT 1 FROM unnest(p_patterns) t
        WHERE t = '*' OR t = p_type OR (t LIKE '%.*' AND starts_with(p_type, left(t, -1))));
$fn$;

-- The body, content type and headers checks of validate_webhook, apart, so that publish (which has no URL)
-- shares them: one source of truth for "what may be sent".
CREATE FUNCTION validate_payload(p_body bytea, p_headers jsonb, p_content_type text, p_max_body_bytes integer)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path FROM CURRENT
AS $fn$
DECLARE
    v_setting text := nullif(current_setting('herald.max_body_bytes', true), '');
    v_limit integer;
    v_name text;
    v_value jsonb;
BEGIN
    IF p_max_body_bytes IS NULL AND v_setting IS NOT NULL AND v_setting !~ '^[0-9]{1,9}$' THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('the database setting herald.max_body_bytes is %s, not a whole number of bytes', left(v_setting, 40)),
            HINT = 'Fix it with ALTER DATABASE … SET herald.max_body_bytes = 1048576, or pass the limit explicitly.';
    END IF;
    v_limit := coalesce(p_max_body_bytes, v_setting::integer, 1048576);
    IF v_limit < 1 OR v_limit > 104857600 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('invalid body size limit %s%s: it must be between 1 and 104857600 bytes', v_limit,
                             CASE WHEN p_max_body_bytes IS NULL THEN ' (database setting herald.max_body_bytes)' ELSE '' END);
    END IF;
    IF p_body IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the webhook body is NULL', HINT = 'Pass an empty body as ''''::bytea.';
    END IF;
    IF octet_length(p_body) > v_limit THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('webhook body is %s bytes, over the limit of %s bytes', octet_length(p_body), v_limit),
            HINT = 'Send a smaller body (e.g. a reference the receiver fetches), or raise herald.max_body_bytes.';
    END IF;
    IF p_content_type IS NULL OR p_content_type !~ '^[!#$%&''*+.^_`|~0-9A-Za-z-]+/[!#$%&''*+.^_`|~0-9A-Za-z-]+([ \t]*;[ -~\t]*)?$' THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('invalid content type %s', left(coalesce(p_content_type, 'NULL'), 100)),
            HINT = 'Use a media type such as application/json.';
    END IF;
    IF p_headers IS NULL OR jsonb_typeof(p_headers) <> 'object' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'headers must be a JSON object of name to string value';
    END IF;
    FOR v_name, v_value IN SELECT key, value FROM jsonb_each(p_headers) LOOP
        IF length(v_name) > 256 OR v_name !~ '^[!#$%&''*+.^_`|~0-9A-Za-z-]+$' THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = format('invalid header name %s: only HTTP token characters are allowed', left(v_name, 100));
        END IF;
        IF lower(v_name) IN ('host', 'content-length', 'content-type', 'transfer-encoding', 'connection', 'idempotency-key', 'user-agent')
           OR lower(v_name) LIKE 'webhook-%' THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = format('header %s is set by Herald and cannot be given', v_name),
                HINT = 'Herald sends webhook-id, webhook-timestamp, webhook-signature, Idempotency-Key, Content-Length, Host and User-Agent itself; use the content type parameter for Content-Type.';
        END IF;
        IF jsonb_typeof(v_value) <> 'string' OR length(v_value #>> '{}') > 8192
           OR (v_value #>> '{}') ~ '[\x01-\x08\x0a-\x1f\x7f]' THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = format('invalid value for header %s: it must be a string of at most 8192 characters without control characters (CR and LF included)', v_name);
        END IF;
    END LOOP;
END
$fn$;

-- Same signature as in 0009: the URL check, then validate_payload.
CREATE OR REPLACE FUNCTION validate_webhook(p_url text, p_body bytea, p_headers jsonb, p_content_type text, p_max_body_bytes integer)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path FROM CURRENT
AS $fn$
DECLARE
    v_problem text := webhook_url_problem(p_url);
BEGIN
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('invalid webhook URL %s: %s', left(coalesce(p_url, 'NULL'), 100), v_problem),
            HINT = CASE WHEN v_problem LIKE 'user:password%' THEN 'Put credentials in a header instead, e.g. Authorization.'
                        ELSE 'Pass a URL such as https://example.com/hooks.' END;
    END IF;
    PERFORM validate_payload(p_body, p_headers, p_content_type, p_max_body_bytes);
END
$fn$;

-- A new Standard Webhooks secret: whsec_ + base64 of 32 random bytes.
CREATE FUNCTION new_webhook_secret()
RETURNS text
LANGUAGE sql
VOLATILE
AS $fn$
    SELECT 'whsec_' || encode(decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'), 'base64');
$fn$;

-- A delivery's idempotency key (webhook-id): 'msg_' + 12 hex digits of milliseconds + 20 random hex digits.
CREATE FUNCTION new_delivery_key()
RETURNS text
LANGUAGE sql
VOLATILE
AS $fn$
    SELECT 'msg_' || lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0')
        || left(replace(gen_random_uuid()::text, '-', ''), 20);
$fn$;

-- 0009's enqueue_with_outcome, finding or creating the endpoint in the application 'default'.
CREATE OR REPLACE FUNCTION enqueue_with_outcome(
    p_url text,
    p_body bytea,
    p_event_type text DEFAULT '',
    p_event_id text DEFAULT NULL,
    p_headers jsonb DEFAULT '{}',
    p_content_type text DEFAULT 'application/json',
    p_max_attempts integer DEFAULT NULL,
    p_max_body_bytes integer DEFAULT NULL,
    OUT delivery_id bigint,
    OUT duplicate boolean,
    OUT target_endpoint_id bigint,
    OUT endpoint_disabled_reason text
)
LANGUAGE plpgsql
VOLATILE
SET search_path FROM CURRENT
AS $fn$
DECLARE
    v_endpoint endpoints%ROWTYPE;
    v_url text;
    v_id bigint;
    v_breaker text;
BEGIN
    PERFORM validate_webhook(p_url, p_body, p_headers, p_content_type, p_max_body_bytes);
    IF p_max_attempts IS NOT NULL AND p_max_attempts NOT BETWEEN 1 AND 50 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('invalid max attempts %s: use 1 to 50', p_max_attempts);
    END IF;
    IF p_event_id IS NOT NULL AND (length(p_event_id) > 255 OR p_event_id = '') THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the event id must be 1 to 255 characters (or NULL)';
    END IF;
    IF length(coalesce(p_event_type, '')) > 255 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the event type must be at most 255 characters';
    END IF;
    v_url := webhook_url_normalized(p_url);

    -- Find the endpoint; create it only the first time (see 0006).
    SELECT * INTO v_endpoint FROM endpoints WHERE application_id = 'default' AND url = v_url;
    IF NOT FOUND THEN
        INSERT INTO endpoints (application_id, url, secret)
        VALUES ('default', v_url, new_webhook_secret())
        ON CONFLICT (application_id, url) DO NOTHING;
        SELECT * INTO STRICT v_endpoint FROM endpoints WHERE application_id = 'default' AND url = v_url;
    END IF;
    target_endpoint_id := v_endpoint.id;
    IF NOT v_endpoint.enabled THEN
        endpoint_disabled_reason := coalesce(v_endpoint.disabled_reason, 'disabled');
        RAISE NOTICE 'endpoint % is disabled (%): this delivery fails when due unless the endpoint is enabled first',
            v_endpoint.id, endpoint_disabled_reason;
    END IF;

    IF p_event_id IS NOT NULL THEN
        SELECT d.id INTO v_id FROM deliveries d WHERE d.endpoint_id = v_endpoint.id AND d.event_id = p_event_id;
        IF FOUND THEN
            RAISE NOTICE 'event id % was already queued for this URL as delivery %: nothing new queued', p_event_id, v_id;
            delivery_id := v_id;
            duplicate := true;
            RETURN;
        END IF;
    END IF;

    v_breaker := coalesce(v_endpoint.breaker_key, 'endpoint:' || v_endpoint.id);
    INSERT INTO deliveries (endpoint_id, event_type, event_id, idempotency_key, body, content_type, headers,
                            max_attempts, breaker_key, next_attempt_at)
    VALUES (v_endpoint.id, coalesce(p_event_type, ''), p_event_id, new_delivery_key(), p_body, p_content_type, p_headers,
            p_max_attempts, v_breaker,
            greatest(now(), coalesce((SELECT b.open_until FROM circuit_breakers b WHERE b.key = v_breaker AND b.state = 'open'), now())))
    ON CONFLICT (endpoint_id, event_id) DO NOTHING
    RETURNING id INTO v_id;

    IF v_id IS NULL THEN
        SELECT d.id INTO STRICT v_id FROM deliveries d WHERE d.endpoint_id = v_endpoint.id AND d.event_id = p_event_id;
        delivery_id := v_id;
        duplicate := true;
        RETURN;
    END IF;

    PERFORM pg_notify(current_schema() || '.enqueued', '');
    delivery_id := v_id;
    duplicate := false;
END
$fn$;

-- Publishes one event of an application: stores the message once and fans it out, in the caller's
-- transaction, to every enabled endpoint of the application subscribed to the type (and, when the
-- endpoint names channels, to one of the message's channels). Creates the application on first use.
--   duplicate    the (application, event id) was published before; message_id is that first message and
--                nothing new is queued
--   queued       how many deliveries this call queued
-- Invalid input raises SQLSTATE 22023 with a hint and writes nothing.
CREATE FUNCTION publish_with_outcome(
    p_application text,
    p_event_type text,
    p_payload bytea,
    p_event_id text DEFAULT NULL,
    p_channels text[] DEFAULT NULL,
    p_headers jsonb DEFAULT '{}',
    p_content_type text DEFAULT 'application/json',
    p_max_body_bytes integer DEFAULT NULL,
    OUT message_id bigint,
    OUT duplicate boolean,
    OUT queued integer
)
LANGUAGE plpgsql
VOLATILE
SET search_path FROM CURRENT
AS $fn$
DECLARE
    v_problem text := coalesce(application_id_problem(p_application), event_type_problem(p_event_type));
    v_channel text;
BEGIN
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = v_problem,
            HINT = 'The application id is your own id for the customer (e.g. cust_42); the event type names what happened (e.g. invoice.paid).';
    END IF;
    IF p_application LIKE '\_%' THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('application %s is Herald''s own: its events are published by Herald', p_application),
            HINT = 'Use an application id of your own.';
    END IF;
    IF p_event_id IS NOT NULL AND (length(p_event_id) > 255 OR p_event_id = '') THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the event id must be 1 to 255 characters (or NULL)',
            HINT = 'Pass your own id of the event (e.g. inv_42), which makes publishing it twice harmless, or NULL.';
    END IF;
    IF cardinality(p_channels) > 10 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('a message names at most 10 channels, not %s', cardinality(p_channels)),
            HINT = 'Channels route a message to the endpoints that named one of them; name the few that apply.';
    END IF;
    FOREACH v_channel IN ARRAY coalesce(p_channels, '{}') LOOP
        v_problem := channel_problem(v_channel);
        IF v_problem IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = v_problem, HINT = 'Channels are names such as eu or project.7.';
        END IF;
    END LOOP;
    PERFORM validate_payload(p_payload, p_headers, p_content_type, p_max_body_bytes);

    -- The application: looked up first, so publishing to a known one writes no application row.
    IF NOT EXISTS (SELECT 1 FROM applications a WHERE a.id = p_application) THEN
        INSERT INTO applications (id, name) VALUES (p_application, p_application) ON CONFLICT (id) DO NOTHING;
    END IF;

    -- Producer-side deduplication: the first message for (application, event id) wins.
    IF p_event_id IS NOT NULL THEN
        SELECT m.id INTO message_id FROM messages m WHERE m.application_id = p_application AND m.event_id = p_event_id;
        IF FOUND THEN
            duplicate := true;
            queued := 0;
            RETURN;
        END IF;
    END IF;
    INSERT INTO messages (application_id, event_type, event_id, payload, content_type, channels)
    VALUES (p_application, p_event_type, p_event_id, p_payload, p_content_type, nullif(p_channels, '{}'))
    ON CONFLICT (application_id, event_id) DO NOTHING
    RETURNING id INTO message_id;
    IF message_id IS NULL THEN
        -- A concurrent transaction published the same event id first.
        SELECT m.id INTO STRICT message_id FROM messages m WHERE m.application_id = p_application AND m.event_id = p_event_id;
        duplicate := true;
        queued := 0;
        RETURN;
    END IF;
    duplicate := false;

    INSERT INTO deliveries (endpoint_id, message_id, event_type, event_id, idempotency_key, body, content_type, headers,
                            breaker_key, next_attempt_at)
    SELECT e.id, message_id, p_event_type, p_event_id, new_delivery_key(), NULL, p_content_type, p_headers,
           coalesce(e.breaker_key, 'endpoint:' || e.id),
           -- Behind an open breaker a new delivery waits for the breaker like the queued ones.
           greatest(now(), coalesce(b.open_until, now()))
    FROM endpoints e
    LEFT JOIN circuit_breakers b ON b.key = coalesce(e.breaker_key, 'endpoint:' || e.id) AND b.state = 'open'
    WHERE e.application_id = p_application AND e.enabled
      AND event_type_matches(e.event_types, p_event_type)
      AND (e.channels IS NULL OR e.channels && coalesce(p_channels, '{}'))
    ORDER BY e.id
    ON CONFLICT (endpoint_id, event_id) DO NOTHING;
    GET DIAGNOSTICS queued = ROW_COUNT;

    IF queued > 0 THEN
        PERFORM pg_notify(current_schema() || '.enqueued', '');
    END IF;
END
$fn$;

-- The message id only, for producers that need nothing else.
CREATE FUNCTION publish(
    p_application text,
    p_event_type text,
    p_payload bytea,
    p_event_id text DEFAULT NULL,
    p_channels text[] DEFAULT NULL,
    p_headers jsonb DEFAULT '{}'
)
RETURNS bigint
LANGUAGE sql
VOLATILE
SET search_path FROM CURRENT
AS $fn$
    SELECT message_id FROM publish_with_outcome(p_application, p_event_type, p_payload, p_event_id, p_channels, p_headers);
$fn$;

-- publish() with a JSON payload, sent as its compact text.
CREATE FUNCTION publish_json(
    p_application text,
    p_event_type text,
    p_payload jsonb,
    p_event_id text DEFAULT NULL,
    p_channels text[] DEFAULT NULL,
    p_headers jsonb DEFAULT '{}'
)
RETURNS bigint
LANGUAGE sql
VOLATILE
SET search_path FROM CURRENT
AS $fn$
    SELECT message_id FROM publish_with_outcome(p_application, p_event_type, convert_to(p_payload::text, 'UTF8'), p_event_id,
                                                p_channels, p_headers);
$fn$;

-- An operational event (endpoint.disabled, endpoint.enabled, message.attempt.exhausted), published to the
-- application '_operations' when an operator registered an endpoint there; otherwise nothing is written.
-- Events about '_operations' itself are not published (no loop).
CREATE FUNCTION operational_event(p_type text, p_application text, p_data jsonb)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path FROM CURRENT
AS $fn$
DECLARE
    v_message bigint;
BEGIN
    IF p_application = '_operations'
       OR NOT EXISTS (SELECT 1 FROM endpoints e WHERE e.application_id = '_operations' AND e.enabled) THEN
        RETURN;
    END IF;
    INSERT INTO messages (application_id, event_type, payload)
    VALUES ('_operations', p_type,
            convert_to(jsonb_build_object('type', p_type, 'timestamp', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                                          'data', p_data)::text, 'UTF8'))
    RETURNING id INTO v_message;
    INSERT INTO deliveries (endpoint_id, message_id, event_type, idempotency_key, body, content_type, breaker_key)
    SELECT e.id, v_message, p_type, new_delivery_key(), NULL, 'application/json', coalesce(e.breaker_key, 'endpoint:' || e.id)
    FROM endpoints e
    WHERE e.application_id = '_operations' AND e.enabled AND event_type_matches(e.event_types, p_type)
    ORDER BY e.id;
    PERFORM pg_notify(current_schema() || '.enqueued', '');
END
$fn$;

-- Disables or enables an endpoint, records the event and publishes the operational webhook; returns
-- false (and changes nothing) when it already was so. p_actor NULL: the session's role.
CREATE FUNCTION endpoint_set_enabled(p_endpoint bigint, p_enabled boolean, p_reason text, p_actor text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SET search_path FROM CURRENT
AS $fn$
DECLARE
    v_endpoint endpoints%ROWTYPE;
BEGIN
    UPDATE endpoints
    SET enabled = p_enabled,
        disabled_reason = CASE WHEN p_enabled THEN NULL ELSE coalesce(p_reason, 'disabled') END,
        disabled_at = CASE WHEN p_enabled THEN NULL ELSE clock_timestamp() END,
        failing_since = NULL,
        updated_at = now()
    WHERE id = p_endpoint AND enabled <> p_enabled
    RETURNING * INTO v_endpoint;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO endpoint_events (endpoint_id, application_id, what, reason, actor)
    VALUES (v_endpoint.id, v_endpoint.application_id, CASE WHEN p_enabled THEN 'enabled' ELSE 'disabled' END,
            v_endpoint.disabled_reason, coalesce(p_actor, session_user));
    PERFORM operational_event(CASE WHEN p_enabled THEN 'endpoint.enabled' ELSE 'endpoint.disabled' END, v_endpoint.application_id,
                              jsonb_build_object('endpointId', v_endpoint.id, 'appId', v_endpoint.application_id,
                                                 'url', v_endpoint.url, 'reason', v_endpoint.disabled_reason));
    RETURN true;
END
$fn$;

-- A batch's lessons about its endpoints, applied in the worker's completion transaction. p_outcomes:
-- [{endpoint_id, succeeded, failed, gone, exhausted: [delivery ids that ran out of attempts]}], one per
-- endpoint. A success clears failing_since; a batch of only failures sets it if unset; a 410 Gone disables
-- at once; failing for longer than p_disable_after_ms (NULL: never) disables. Returns what it disabled.
CREATE FUNCTION endpoint_outcomes_record(p_outcomes jsonb, p_disable_after_ms bigint)
RETURNS TABLE (disabled_endpoint_id bigint, disabled_why text)
LANGUAGE plpgsql
VOLATILE
SET search_path FROM CURRENT
AS $fn$
DECLARE
    o record;
    v_reason text;
    d record;
BEGIN
    FOR o IN
        SELECT x.endpoint_id, coalesce(x.succeeded, false) AS succeeded, coalesce(x.failed, false) AS failed,
               coalesce(x.gone, false) AS gone, x.exhausted
        FROM jsonb_to_recordset(p_outcomes) AS x(endpoint_id bigint, succeeded boolean, failed boolean, gone boolean, exhausted bigint[])
        ORDER BY x.endpoint_id    -- one lock order for every worker: no deadlock
    LOOP
        IF o.succeeded THEN
            UPDATE endpoints SET failing_since = NULL WHERE id = o.endpoint_id AND failing_since IS NOT NULL;
        ELSIF o.failed OR o.gone THEN
            UPDATE endpoints SET failing_since = clock_timestamp() WHERE id = o.endpoint_id AND failing_since IS NULL;
        END IF;
        v_reason := NULL;
        IF o.gone THEN
            v_reason := 'the endpoint answered 410 Gone';
        ELSIF NOT o.succeeded AND o.failed AND p_disable_after_ms IS NOT NULL
              AND EXISTS (SELECT 1 FROM endpoints e WHERE e.id = o.endpoint_id AND e.enabled
                          AND e.failing_since <= clock_timestamp() - make_interval(secs => p_disable_after_ms / 1000.0)) THEN
            v_reason := format('every attempt failed for %s', (SELECT date_trunc('second', clock_timestamp() - e.failing_since)::text
                                                               FROM endpoints e WHERE e.id = o.endpoint_id));
        END IF;
        IF v_reason IS NOT NULL AND endpoint_set_enabled(o.endpoint_id, false, v_reason, 'herald worker') THEN
            disabled_endpoint_id := o.endpoint_id;
            disabled_why := v_reason;
            RETURN NEXT;
        END IF;
        FOR d IN
            SELECT dl.id, dl.message_id, dl.event_type, dl.event_id, dl.attempts, dl.last_status, dl.last_error, e.application_id, e.id AS endpoint_id
            FROM deliveries dl JOIN endpoints e ON e.id = dl.endpoint_id
            WHERE dl.id = ANY (coalesce(o.exhausted, '{}'))
        LOOP
            PERFORM operational_event('message.attempt.exhausted', d.application_id,
                jsonb_build_object('appId', d.application_id, 'endpointId', d.endpoint_id, 'deliveryId', d.id, 'msgId', d.message_id,
                                   'eventType', d.event_type, 'eventId', d.event_id, 'attempts', d.attempts,
                                   'lastStatus', d.last_status, 'lastError', d.last_error));
        END LOOP;
    END LOOP;
END
$fn$;

-- The audit views with the application (appended: a view's existing columns keep their order). The
-- timeline reads the application through the endpoint, so "everything that happened to customer X's
-- event Y" is `WHERE application_id = 'X' AND event_id = 'Y'`.
CREATE OR REPLACE VIEW delivery_timeline AS
SELECT d.id AS delivery_id, d.event_id, d.event_type, e.url, d.idempotency_key,
       d.created_at AS at, 'enqueued' AS what, NULL::integer AS attempt, NULL::integer AS status_code,
       NULL::integer AS duration_ms, NULL::text AS error, NULL::text AS worker_id, e.application_id, d.message_id, e.id AS endpoint_id
FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
UNION ALL
SELECT d.id, d.event_id, d.event_type, e.url, d.idempotency_key,
       a.started_at, 'attempt: ' || a.outcome, a.attempt, a.status_code, a.duration_ms, a.error, a.worker_id, e.application_id, d.message_id, e.id
FROM attempts a JOIN deliveries d ON d.id = a.delivery_id JOIN endpoints e ON e.id = d.endpoint_id
UNION ALL
SELECT d.id, d.event_id, d.event_type, e.url, d.idempotency_key,
       d.finished_at, 'ended: ' || d.state, d.attempts, d.last_status, NULL, d.last_error, NULL, e.application_id, d.message_id, e.id
FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
WHERE d.finished_at IS NOT NULL
UNION ALL
SELECT d.id, d.event_id, d.event_type, e.url, d.idempotency_key,
       ev.ended_at, 'ended: ' || ev.from_state, ev.attempts, ev.last_status, NULL, ev.last_error, NULL, e.application_id, d.message_id, e.id
FROM delivery_events ev JOIN deliveries d ON d.id = ev.delivery_id JOIN endpoints e ON e.id = d.endpoint_id
WHERE ev.what = 'replayed' AND ev.ended_at IS NOT NULL
UNION ALL
SELECT d.id, d.event_id, d.event_type, e.url, d.idempotency_key,
       ev.at, ev.what || ' by operator (was ' || ev.from_state || ')', NULL, NULL, NULL, NULL, ev.actor, e.application_id, d.message_id, e.id
FROM delivery_events ev JOIN deliveries d ON d.id = ev.delivery_id JOIN endpoints e ON e.id = d.endpoint_id
UNION ALL
-- The endpoint's own events (disabled by a 410, re-enabled …) on the timeline of each of its deliveries
-- that was alive at the time.
SELECT d.id, d.event_id, d.event_type, e.url, d.idempotency_key,
       x.at, 'endpoint ' || x.what || coalesce(': ' || x.reason, ''), NULL, NULL, NULL, NULL, x.actor, e.application_id, d.message_id, e.id
FROM endpoint_events x JOIN deliveries d ON d.endpoint_id = x.endpoint_id JOIN endpoints e ON e.id = d.endpoint_id
WHERE x.at >= d.created_at AND (d.finished_at IS NULL OR x.at <= d.finished_at);

CREATE OR REPLACE VIEW dead_letters AS
SELECT d.id AS delivery_id, d.state, e.url, d.event_type, d.event_id, d.attempts, d.last_status,
       d.last_error, d.created_at, d.finished_at, e.application_id, d.message_id, e.id AS endpoint_id
FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
WHERE d.state IN ('dead', 'failed');

CREATE OR REPLACE VIEW endpoint_health AS
SELECT e.id AS endpoint_id, e.url, e.enabled,
       count(a.id) AS attempts_1h,
       round(100.0 * count(a.id) FILTER (WHERE a.outcome = 'delivered') / nullif(count(a.id), 0), 1) AS success_pct_1h,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY a.duration_ms) AS p95_ms_1h,
       (SELECT count(*) FROM deliveries p WHERE p.endpoint_id = e.id AND p.state = 'pending') AS pending,
       coalesce(b.state, 'closed') AS breaker_state,
       e.application_id, e.disabled_reason, e.failing_since
FROM endpoints e
LEFT JOIN deliveries d ON d.endpoint_id = e.id
LEFT JOIN attempts a ON a.delivery_id = d.id AND a.started_at > now() - interval '1 hour'
LEFT JOIN circuit_breakers b ON b.key = coalesce(e.breaker_key, 'endpoint:' || e.id)
GROUP BY e.id, e.url, e.enabled, b.state, e.application_id, e.disabled_reason, e.failing_since;
