-- 0002: enqueueing from SQL.
--
-- `enqueue(...)` lets a producer in any language queue a webhook with one statement inside its own
-- transaction (transactional outbox: the webhook exists if and only if the business row commits).
-- Herald's Swift API and `herald enqueue` call the same function, so every producer gets the same
-- validation and the same error messages.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

-- Refuses what Herald will not send; raises SQLSTATE 22023 (invalid_parameter_value) with a message that
-- says what is wrong and a hint that says what to do. Nothing is written when it raises.
CREATE FUNCTION validate_webhook(p_url text, p_body bytea, p_headers jsonb, p_content_type text, p_max_body_bytes integer)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path FROM CURRENT
AS $fn$
DECLARE
    v_limit integer := coalesce(p_max_body_bytes, nullif(current_setting('herald.max_body_bytes', true), '')::integer, 1048576);
    v_name text;
    v_value jsonb;
BEGIN
    IF coalesce(substring(p_url from '^https?://([^/?#]*)') , '') LIKE '%@%' THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = 'invalid webhook URL: user:password in URLs is refused (it would be stored and logged)',
            HINT = 'Put credentials in a header instead, e.g. Authorization.';
    END IF;
    IF p_url IS NULL OR length(p_url) > 2048 OR p_url !~ '^https?://[^/?#@[:space:]]+([/?#][^[:space:][:cntrl:]]*)?$' THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('invalid webhook URL %s: only absolute http:// or https:// URLs of at most 2048 characters, without spaces', left(coalesce(p_url, 'NULL'), 100)),
            HINT = 'Pass a URL such as https://example.com/hooks.';
    END IF;
    IF v_limit < 1 OR v_limit > 104857600 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('invalid body size limit %s: it must be between 1 and 104857600 bytes', v_limit);
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

-- Queues one webhook and returns its delivery id.
--
-- The endpoint for the URL is created on first use (with a fresh signing secret). Enqueueing the same
-- (URL, event id) twice returns the first delivery and creates nothing. NOTIFY wakes idle workers when the
-- caller's transaction commits; several enqueues in one transaction wake them once.
CREATE FUNCTION enqueue(
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
LANGUAGE plpgsql
VOLATILE
SET search_path FROM CURRENT
AS $fn$
DECLARE
    v_endpoint endpoints%ROWTYPE;
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

    -- Find or create the endpoint; ON CONFLICT makes concurrent first enqueues to one URL safe.
    INSERT INTO endpoints (url, secret)
    VALUES (p_url, 'whsec_' || encode(decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'), 'base64'))
    ON CONFLICT (url) DO NOTHING;
    SELECT * INTO STRICT v_endpoint FROM endpoints WHERE url = p_url;

    -- Producer-side deduplication: the first delivery for (endpoint, event id) wins.
    IF p_event_id IS NOT NULL THEN
        SELECT id INTO v_id FROM deliveries WHERE endpoint_id = v_endpoint.id AND event_id = p_event_id;
        IF FOUND THEN
            RETURN v_id;
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
            greatest(now(), coalesce((SELECT open_until FROM circuit_breakers WHERE key = v_breaker AND state = 'open'), now())))
    ON CONFLICT (endpoint_id, event_id) DO NOTHING
    RETURNING id INTO v_id;

    IF v_id IS NULL THEN
        -- A concurrent transaction inserted the same event id first.
        SELECT id INTO STRICT v_id FROM deliveries WHERE endpoint_id = v_endpoint.id AND event_id = p_event_id;
        RETURN v_id;
    END IF;

    PERFORM pg_notify(current_schema() || '.enqueued', '');
    RETURN v_id;
END
$fn$;

-- The same for a JSON payload: the body is the payload's text as UTF-8.
CREATE FUNCTION enqueue_json(
    p_url text,
    p_payload jsonb,
    p_event_type text DEFAULT '',
    p_event_id text DEFAULT NULL,
    p_headers jsonb DEFAULT '{}',
    p_max_attempts integer DEFAULT NULL
)
RETURNS bigint
LANGUAGE sql
VOLATILE
SET search_path FROM CURRENT
AS $fn$
    SELECT enqueue(p_url, convert_to(p_payload::text, 'UTF8'), p_event_type, p_event_id, p_headers,
                   'application/json', p_max_attempts, NULL);
$fn$;
