-- 0006: a cheaper enqueue.
--
-- enqueue() tried to insert the endpoint on every call (ON CONFLICT DO NOTHING), which generated a signing
-- secret and spent an identity value each time: a quarter of the function's time (pg_stat_statements,
-- track = all). It now looks the endpoint up first and inserts only when it is new. Same signature,
-- same behaviour.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

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

    -- Find the endpoint; create it only the first time (ON CONFLICT keeps concurrent first enqueues to
    -- one URL safe). Looking first spares every later enqueue a secret, an identity value and an insert.
    SELECT * INTO v_endpoint FROM endpoints WHERE url = p_url;
    IF NOT FOUND THEN
        INSERT INTO endpoints (url, secret)
        VALUES (p_url, 'whsec_' || encode(decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'), 'base64'))
        ON CONFLICT (url) DO NOTHING;
        SELECT * INTO STRICT v_endpoint FROM endpoints WHERE url = p_url;
    END IF;

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
