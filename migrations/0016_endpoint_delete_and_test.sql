-- 0016: deleting an endpoint, and sending one a test event (issue #14: DELETE /v1/…/endpoints/{id},
-- POST /v1/…/endpoints/{id}/test, `herald endpoints delete|test`).
--
-- Why a soft delete: deliveries reference their endpoint (deliveries.endpoint_id), and the audit trail
-- (deliveries, attempts, the timeline, dead letters) names the URL an event went to. Removing the row would
-- mean removing that history or leaving it pointing nowhere. A deleted endpoint keeps its row with
-- `deleted_at` set: hidden from listings, from id lookups (404) and from fan-out, never enabled again; its
-- URL can be registered again (a new endpoint with a new id and secret).

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

-- When the endpoint was deleted; NULL: it exists.
ALTER TABLE endpoints ADD COLUMN deleted_at timestamptz;

-- One live endpoint per (application, URL): a deleted one no longer holds its URL. The index is rebuilt in
-- this transaction; the table is small (one row per destination), so the lock is brief.
-- squawk-ignore require-concurrent-index-deletion
DROP INDEX endpoints_application_url_key;
-- squawk-ignore require-concurrent-index-creation
CREATE UNIQUE INDEX endpoints_application_url_key ON endpoints (application_id, url) WHERE deleted_at IS NULL;

-- Deletions are endpoint events too (the timeline of each delivery alive at the time shows them).
-- squawk-ignore ban-drop-constraint
ALTER TABLE endpoint_events DROP CONSTRAINT endpoint_events_what;
-- squawk-ignore constraint-missing-not-valid
ALTER TABLE endpoint_events ADD CONSTRAINT endpoint_events_what CHECK (what IN ('disabled', 'enabled', 'deleted'));

-- Deletes an endpoint: it is disabled with the reason 'endpoint deleted' (so its queued deliveries are
-- settled exactly like a disabled endpoint's: each fails when due, sending nothing and spending no
-- attempt, docs/applications.md), marked deleted, recorded in endpoint_events and announced as the
-- operational webhook endpoint.deleted. Returns false (and changes nothing) when there is no such live
-- endpoint. p_actor NULL: the session's role.
CREATE FUNCTION endpoint_delete(p_endpoint bigint, p_actor text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SET search_path FROM CURRENT
AS $fn$
DECLARE
    v_endpoint endpoints%ROWTYPE;
BEGIN
    UPDATE endpoints
    SET deleted_at = clock_timestamp(),
        enabled = false,
        disabled_reason = 'endpoint deleted',
        disabled_at = coalesce(disabled_at, clock_timestamp()),
        failing_since = NULL,
        updated_at = now()
    WHERE id = p_endpoint AND deleted_at IS NULL
    RETURNING * INTO v_endpoint;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO endpoint_events (endpoint_id, application_id, what, reason, actor)
    VALUES (v_endpoint.id, v_endpoint.application_id, 'deleted', NULL, coalesce(p_actor, session_user));
    PERFORM operational_event('endpoint.deleted', v_endpoint.application_id,
                              jsonb_build_object('endpointId', v_endpoint.id, 'appId', v_endpoint.application_id, 'url', v_endpoint.url));
    RETURN true;
END
$fn$;

-- 0012's endpoint_set_enabled, except that a deleted endpoint is never enabled (nor disabled) again.
CREATE OR REPLACE FUNCTION endpoint_set_enabled(p_endpoint bigint, p_enabled boolean, p_reason text, p_actor text DEFAULT NULL)
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
    WHERE id = p_endpoint AND enabled <> p_enabled AND deleted_at IS NULL
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

-- Queues one test event to one endpoint, whatever its subscriptions and channels: a message of the
-- endpoint's application (so it is listed and audited like any other) with one delivery, signed and sent
-- like any other. The payload says it is a test: {"type": …, "timestamp": …, "data": {"test": true,
-- "endpointId": …}}. A disabled endpoint is refused (22023): its delivery would fail unsent, which tests
-- nothing. The type is checked like publish's (default 'herald.test').
CREATE FUNCTION endpoint_send_test(
    p_endpoint bigint,
    p_event_type text DEFAULT 'herald.test',
    OUT message_id bigint,
    OUT delivery_id bigint
)
LANGUAGE plpgsql
VOLATILE
SET search_path FROM CURRENT
AS $fn$
DECLARE
    v_endpoint endpoints%ROWTYPE;
    v_problem text := event_type_problem(p_event_type);
    v_breaker text;
BEGIN
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = v_problem,
            HINT = 'The event type of a test event defaults to herald.test; give one your receiver handles to test that.';
    END IF;
    -- FOR SHARE: a concurrent delete or disable waits for this transaction, so the test never lands on a
    -- deleted endpoint.
    SELECT * INTO v_endpoint FROM endpoints e WHERE e.id = p_endpoint AND e.deleted_at IS NULL FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('no endpoint %s', p_endpoint);
    END IF;
    IF NOT v_endpoint.enabled THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('endpoint %s is disabled (%s): a test event to it would fail without being sent', v_endpoint.id,
                             coalesce(v_endpoint.disabled_reason, 'disabled')),
            HINT = 'Enable the endpoint first.';
    END IF;
    INSERT INTO messages (application_id, event_type, payload)
    VALUES (v_endpoint.application_id, p_event_type,
            convert_to(jsonb_build_object(
                'type', p_event_type,
                'timestamp', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                'data', jsonb_build_object('test', true, 'endpointId', v_endpoint.id))::text, 'UTF8'))
    RETURNING id INTO message_id;
    v_breaker := coalesce(v_endpoint.breaker_key, 'endpoint:' || v_endpoint.id);
    INSERT INTO deliveries (endpoint_id, message_id, event_type, idempotency_key, body, content_type, breaker_key, next_attempt_at)
    VALUES (v_endpoint.id, message_id, p_event_type, new_delivery_key(), NULL, 'application/json', v_breaker,
            -- Behind an open breaker it waits for the breaker like every other delivery of the endpoint.
            greatest(now(), coalesce((SELECT b.open_until FROM circuit_breakers b WHERE b.key = v_breaker AND b.state = 'open'), now())))
    RETURNING id INTO delivery_id;
    PERFORM pg_notify(current_schema() || '.enqueued', '');
END
$fn$;

-- 0014's enqueue_with_outcome, finding (or creating) only a live endpoint for the URL: after a delete,
-- enqueue(url, …) registers the URL afresh instead of queueing to the deleted endpoint.
CREATE OR REPLACE FUNCTION enqueue_with_outcome(
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

    -- Find the live endpoint; create it only the first time (see 0006).
    SELECT * INTO v_endpoint FROM endpoints WHERE application_id = 'default' AND url = v_url AND deleted_at IS NULL;
    IF NOT FOUND THEN
        INSERT INTO endpoints (application_id, url, secret)
        VALUES ('default', v_url, new_webhook_secret())
        ON CONFLICT (application_id, url) WHERE deleted_at IS NULL DO NOTHING;
        SELECT * INTO STRICT v_endpoint FROM endpoints WHERE application_id = 'default' AND url = v_url AND deleted_at IS NULL;
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
