-- 0014: enqueue() takes the producer's trace context (issue #16, tracing from producer to receiver).
--
-- publish() took `p_traceparent` from the start (0012); the direct path gets it too, as a last argument with
-- a default, so every existing call keeps working. A function's argument list cannot change in place:
-- the three are dropped and created again in this one transaction (producers calling them block on the
-- migration's lock for its few milliseconds, never see them missing).

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

-- Recreated below with one more defaulted argument: every existing call resolves to the new ones.
-- squawk-ignore ban-drop-function
DROP FUNCTION enqueue_json(text, jsonb, text, text, jsonb, integer);
-- squawk-ignore ban-drop-function
DROP FUNCTION enqueue(text, bytea, text, text, jsonb, text, integer, integer);
-- squawk-ignore ban-drop-function
DROP FUNCTION enqueue_with_outcome(text, bytea, text, text, jsonb, text, integer, integer);

-- 0012's enqueue_with_outcome with p_traceparent (checked like publish's), stored on the delivery.
CREATE FUNCTION enqueue_with_outcome(
    p_url text,
    p_body bytea,
    p_event_type text DEFAULT '',
    p_event_id text DEFAULT NULL,
    p_headers jsonb DEFAULT '{}',
    p_content_type text DEFAULT 'application/json',
    p_max_attempts integer DEFAULT NULL,
    p_max_body_bytes integer DEFAULT NULL,
    p_traceparent text DEFAULT NULL,
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
    IF traceparent_problem(p_traceparent) IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = traceparent_problem(p_traceparent),
            HINT = 'Pass the traceparent header value of the producer''s current span (W3C Trace Context), or NULL.';
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
                            max_attempts, breaker_key, traceparent, next_attempt_at)
    VALUES (v_endpoint.id, coalesce(p_event_type, ''), p_event_id, new_delivery_key(), p_body, p_content_type, p_headers,
            p_max_attempts, v_breaker, p_traceparent,
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

-- Same arguments and result as before, plus p_traceparent.
CREATE FUNCTION enqueue(
    p_url text,
    p_body bytea,
    p_event_type text DEFAULT '',
    p_event_id text DEFAULT NULL,
    p_headers jsonb DEFAULT '{}',
    p_content_type text DEFAULT 'application/json',
    p_max_attempts integer DEFAULT NULL,
    p_max_body_bytes integer DEFAULT NULL,
    p_traceparent text DEFAULT NULL
)
RETURNS bigint
LANGUAGE sql
VOLATILE
SET search_path FROM CURRENT
AS $fn$
    SELECT delivery_id FROM enqueue_with_outcome(p_url, p_body, p_event_type, p_event_id, p_headers, p_content_type,
                                                 p_max_attempts, p_max_body_bytes, p_traceparent);
$fn$;

CREATE FUNCTION enqueue_json(
    p_url text,
    p_payload jsonb,
    p_event_type text DEFAULT '',
    p_event_id text DEFAULT NULL,
    p_headers jsonb DEFAULT '{}',
    p_max_attempts integer DEFAULT NULL,
    p_traceparent text DEFAULT NULL
)
RETURNS bigint
LANGUAGE sql
VOLATILE
SET search_path FROM CURRENT
AS $fn$
    SELECT enqueue(p_url, convert_to(p_payload::text, 'UTF8'), p_event_type, p_event_id, p_headers,
                   'application/json', p_max_attempts, NULL, p_traceparent);
$fn$;
