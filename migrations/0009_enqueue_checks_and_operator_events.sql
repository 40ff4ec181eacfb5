-- 0009: every enqueue input checked, enqueue says what it did, operator actions on record.
--
-- Why (issue #17, "the first hour"):
-- * `http://127.0.0.1:99999/x` was accepted and crashed every worker that leased it; `:-1`, `:abc`, an
--   empty host and an unbalanced `[` were accepted and then retried for two days. The URL is now checked
--   part by part (scheme case-insensitive, host present, port 1-65535, IPv6 brackets balanced), each
--   refusal saying which part is wrong. The scheme is stored lower-case so `HTTP://a/` and `http://a/`
--   are one endpoint (and the endpoints_url_scheme CHECK holds).
-- * A malformed `herald.max_body_bytes` setting failed every enqueue with "invalid input syntax for
--   type integer", naming nothing; it now names the setting.
-- * A repeated event id returned the first delivery's id, and an enqueue to a disabled endpoint was
--   accepted, both silently. `enqueue_with_outcome` returns the id together with what happened; `enqueue`
--   keeps its signature and result and also says so with a NOTICE (psql shows it; a transactional-outbox
--   producer's transaction is not failed over it).
-- * `herald deliveries replay` erased the earlier `ended:` row of the audit timeline, and replays and
--   cancels left no trace. `delivery_events` records them, and delivery_timeline shows them.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

-- Why a URL is refused, or NULL when Herald can send to it. One function so that enqueue, `herald
-- endpoints add` and the Swift mirror (WebhookURLCheck.swift, kept in step by a test) give the same reasons.
CREATE FUNCTION webhook_url_problem(p_url text)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
AS $fn$
DECLARE
    v_scheme text;
    v_authority text;
    v_host text;
    v_port text;
BEGIN
    IF p_url IS NULL THEN
        RETURN 'the URL is NULL';
    END IF;
    IF length(p_url) > 2048 THEN
        RETURN 'it is longer than 2048 characters';
    END IF;
    IF p_url ~ '[[:space:][:cntrl:]]' THEN
        RETURN 'it contains spaces or control characters';
    END IF;
    v_scheme := substring(p_url from '^([A-Za-z][A-Za-z0-9+.-]*)://');
    IF v_scheme IS NULL OR lower(v_scheme) NOT IN ('http', 'https') THEN
        RETURN 'only absolute http:// or https:// URLs are sent';
    END IF;
    v_authority := substring(p_url from '^[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)');
    IF v_authority LIKE '%@%' THEN
        RETURN 'user:password in URLs is refused (it would be stored and logged)';
    END IF;
    IF v_authority LIKE '[%' THEN
        -- IPv6 literal: [hex digits, colons, dots]; the closing bracket must come before the port.
        v_host := substring(v_authority from '^(\[[0-9A-Fa-f:.]*\])');
        IF v_host IS NULL THEN
            RETURN 'the IPv6 address must be written in balanced brackets, e.g. http://[::1]:8080/';
        END IF;
        IF v_host !~ '^\[[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*\]$' THEN
            RETURN 'the host in brackets is not an IPv6 address';
        END IF;
    ELSE
        v_host := substring(v_authority from '^([^:]*)');
    END IF;
    IF v_host = '' THEN
        RETURN 'the host is missing';
    END IF;
    IF v_host NOT LIKE '[%' AND v_host ~ '[][]' THEN
        RETURN 'the IPv6 address must be written in balanced brackets, e.g. http://[::1]:8080/';
    END IF;
    v_port := substr(v_authority, length(v_host) + 1);
    IF v_port <> '' AND v_port NOT LIKE ':%' THEN
        RETURN 'only a :port may follow the host';
    END IF;
    IF v_port <> '' THEN
        IF v_port !~ '^:[0-9]{1,5}$' THEN
            RETURN format('the port "%s" is not a number from 1 to 65535', left(substr(v_port, 2), 20));
        END IF;
        IF substr(v_port, 2)::integer NOT BETWEEN 1 AND 65535 THEN
            RETURN format('the port "%s" is not a number from 1 to 65535', substr(v_port, 2));
        END IF;
    END IF;
    RETURN NULL;
END
$fn$;

-- The URL as stored: the scheme lower-case, the rest as given.
CREATE FUNCTION webhook_url_normalized(p_url text)
RETURNS text
LANGUAGE sql
IMMUTABLE
AS $fn$
    SELECT lower(substring(p_url from '^[A-Za-z][A-Za-z0-9+.-]*')) || substring(p_url from '://.*$');
$fn$;

-- Same signature as in 0002; the URL checks are webhook_url_problem's, and the setting is checked.
CREATE OR REPLACE FUNCTION validate_webhook(p_url text, p_body bytea, p_headers jsonb, p_content_type text, p_max_body_bytes integer)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path FROM CURRENT
AS $fn$
DECLARE
    v_setting text := nullif(current_setting('herald.max_body_bytes', true), '');
    v_limit integer;
    v_problem text := webhook_url_problem(p_url);
    v_name text;
    v_value jsonb;
BEGIN
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('invalid webhook URL %s: %s', left(coalesce(p_url, 'NULL'), 100), v_problem),
            HINT = CASE WHEN v_problem LIKE 'user:password%' THEN 'Put credentials in a header instead, e.g. Authorization.'
                        ELSE 'Pass a URL such as https://example.com/hooks.' END;
    END IF;
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

-- enqueue() of 0006, returning what happened as well as the id:
--   duplicate                 the (URL, event id) was queued before; delivery_id is that first delivery
--   endpoint_disabled_reason  the endpoint is disabled: the delivery is queued (the producer's transaction
--                             is not failed over it) but fails with this reason when due unless the
--                             endpoint is enabled first
CREATE FUNCTION enqueue_with_outcome(
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
    v_key text;
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
    SELECT * INTO v_endpoint FROM endpoints WHERE url = v_url;
    IF NOT FOUND THEN
        INSERT INTO endpoints (url, secret)
        VALUES (v_url, 'whsec_' || encode(decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'), 'base64'))
        ON CONFLICT (url) DO NOTHING;
        SELECT * INTO STRICT v_endpoint FROM endpoints WHERE url = v_url;
    END IF;
    target_endpoint_id := v_endpoint.id;
    IF NOT v_endpoint.enabled THEN
        endpoint_disabled_reason := coalesce(v_endpoint.disabled_reason, 'disabled');
        RAISE NOTICE 'endpoint % is disabled (%): this delivery fails when due unless the endpoint is enabled first',
            v_endpoint.id, endpoint_disabled_reason;
    END IF;

    -- Producer-side deduplication: the first delivery for (endpoint, event id) wins.
    IF p_event_id IS NOT NULL THEN
        SELECT d.id INTO v_id FROM deliveries d WHERE d.endpoint_id = v_endpoint.id AND d.event_id = p_event_id;
        IF FOUND THEN
            RAISE NOTICE 'event id % was already queued for this URL as delivery %: nothing new queued', p_event_id, v_id;
            delivery_id := v_id;
            duplicate := true;
            RETURN;
        END IF;
    END IF;

    -- Time-ordered and unique: 12 hex digits of milliseconds, then 20 random hex digits.
    v_key := 'msg_' || lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0')
        || left(replace(gen_random_uuid()::text, '-', ''), 20);
    v_breaker := coalesce(v_endpoint.breaker_key, 'endpoint:' || v_endpoint.id);

    INSERT INTO deliveries (endpoint_id, event_type, event_id, idempotency_key, body, content_type, headers,
                            max_attempts, breaker_key, next_attempt_at)
    VALUES (v_endpoint.id, coalesce(p_event_type, ''), p_event_id, v_key, p_body, p_content_type, p_headers,
            p_max_attempts, v_breaker,
            -- Behind an open breaker a new delivery waits for the breaker like the queued ones.
            greatest(now(), coalesce((SELECT b.open_until FROM circuit_breakers b WHERE b.key = v_breaker AND b.state = 'open'), now())))
    ON CONFLICT (endpoint_id, event_id) DO NOTHING
    RETURNING id INTO v_id;

    IF v_id IS NULL THEN
        -- A concurrent transaction inserted the same event id first.
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

-- Same signature and result as in 0002/0006, so every existing producer keeps working.
CREATE OR REPLACE FUNCTION enqueue(
    p_url text,
    p_body bytea,
    p_event_type text DEFAULT '',
    p_event_id text DEFAULT NULL,
    p_headers jsonb DEFAULT '{}',
    p_content_type text DEFAULT 'application/json',
    p_max_attempts integer DEFAULT NULL,
    p_max_body_bytes integer DEFAULT NULL
)
RETURNS bigint
LANGUAGE sql
VOLATILE
SET search_path FROM CURRENT
AS $fn$
    SELECT delivery_id FROM enqueue_with_outcome(p_url, p_body, p_event_type, p_event_id, p_headers, p_content_type,
                                                 p_max_attempts, p_max_body_bytes);
$fn$;

-- What operators did to a delivery (replay, cancel), kept so the audit timeline never loses a step.
-- No foreign key, like attempts (0007): `herald prune` deletes a delivery's events with it.
CREATE TABLE delivery_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id bigint NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    what text NOT NULL,
    -- The state before the action, and for a replay how the delivery had ended: the timeline shows
    -- that earlier end, which the replay cleared from the delivery row.
    from_state text NOT NULL,
    ended_at timestamptz,
    attempts integer,
    last_status integer,
    last_error text,
    -- Who: the database role that ran the command.
    actor text NOT NULL DEFAULT session_user,
    CONSTRAINT delivery_events_what CHECK (what IN ('replayed', 'cancelled'))
);

-- A delivery's events for the timeline and `herald deliveries show`, and prune's delete by delivery.
CREATE INDEX delivery_events_delivery_idx ON delivery_events (delivery_id, at);

-- 0004's timeline with the operator events, and the end of every round a replay closed.
CREATE OR REPLACE VIEW delivery_timeline AS
SELECT d.id AS delivery_id, d.event_id, d.event_type, e.url, d.idempotency_key,
       d.created_at AS at, 'enqueued' AS what, NULL::integer AS attempt, NULL::integer AS status_code,
       NULL::integer AS duration_ms, NULL::text AS error, NULL::text AS worker_id
FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
UNION ALL
SELECT d.id, d.event_id, d.event_type, e.url, d.idempotency_key,
       a.started_at, 'attempt: ' || a.outcome, a.attempt, a.status_code, a.duration_ms, a.error, a.worker_id
FROM attempts a JOIN deliveries d ON d.id = a.delivery_id JOIN endpoints e ON e.id = d.endpoint_id
UNION ALL
SELECT d.id, d.event_id, d.event_type, e.url, d.idempotency_key,
       d.finished_at, 'ended: ' || d.state, d.attempts, d.last_status, NULL, d.last_error, NULL
FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
WHERE d.finished_at IS NOT NULL
UNION ALL
SELECT d.id, d.event_id, d.event_type, e.url, d.idempotency_key,
       ev.ended_at, 'ended: ' || ev.from_state, ev.attempts, ev.last_status, NULL, ev.last_error, NULL
FROM delivery_events ev JOIN deliveries d ON d.id = ev.delivery_id JOIN endpoints e ON e.id = d.endpoint_id
WHERE ev.what = 'replayed' AND ev.ended_at IS NOT NULL
UNION ALL
SELECT d.id, d.event_id, d.event_type, e.url, d.idempotency_key,
       ev.at, ev.what || ' by operator (was ' || ev.from_state || ')', NULL, NULL, NULL, NULL, ev.actor
FROM delivery_events ev JOIN deliveries d ON d.id = ev.delivery_id JOIN endpoints e ON e.id = d.endpoint_id;
