internal import Foundation
internal import PGDriver

/// The statements of the delivery queue: enqueue, lease, complete.
///
/// Each method is one statement (or one pipelined round trip); the names follow what they do to the
/// `deliveries` table.
struct DeliveryStore: Sendable {
    let schema: SchemaName

    /// Calls `<schema>.enqueue_with_outcome(...)`; maps its validation errors (SQLSTATE 22023) to
    /// ``HeraldError``.
    func enqueue(_ request: EnqueueRequest, maxBodyBytes: Int?, on connection: PGConnection) async throws -> EnqueueOutcome {
        let headers = try PGJSON(encoding: request.headers)
        let query: PGQuery = """
            SELECT delivery_id, duplicate, target_endpoint_id, endpoint_disabled_reason
            FROM \(unescaped: schema.qualified("enqueue_with_outcome"))(\(request.url), \(request.body), \(request.eventType), \
            \(request.eventID), \(headers)::jsonb, \(request.contentType), \(request.maxAttempts)::integer, \
            \(maxBodyBytes)::integer)
            """
        do {
            guard let row = try await connection.query(query).first else {
                throw HeraldError(.database, "enqueue_with_outcome returned no row")
            }
            return EnqueueOutcome(
                id: try row.decode("delivery_id"), duplicate: try row.decode("duplicate"),
                endpointID: try row.decode("target_endpoint_id"), endpointDisabledReason: try row.decode("endpoint_disabled_reason"))
        } catch let error as PGError {
            throw Self.heraldError(error)
        }
    }

    /// Leases up to `limit` due pending deliveries; call inside a transaction that stays open across the
    /// send. `SKIP LOCKED` lets every worker lease different rows without waiting on each other; the locks
    /// die with the transaction, so a worker that dies leaves its rows to the others. The lock is
    /// `FOR NO KEY UPDATE`, the lightest lock that excludes other leases (the completion changes no key).
    /// The attempt journal, on another connection, writes attempt rows for leased deliveries; they carry
    /// no foreign key (migration 0007), whose check would lock the leased row a second time.
    /// `interrupted` counts the delivery's latest attempts that never finished (poison detection).
    ///
    /// Prepared once per connection (``PGQuery/reusingPlan()``): with 8 slots leasing at once this took
    /// the lease from 6.2 to 3.4 ms and the drain from 3,049 to 3,789 deliveries/s (docs/benchmarks.md).
    /// The limit is spliced as a literal (an `Int`), so the statement has no parameters and its one plan is
    /// the index walk even when prepared on an empty table. The other statements of a round stay unprepared:
    /// a generic plan for the completion, made while `attempts` was still empty, ran 8× slower once it grew.
    func leaseQuery(limit: Int) -> PGQuery {
        let query: PGQuery = """
        WITH due AS MATERIALIZED (
            -- Only this part walks the queue: the partial due index, in order, skipping locked rows.
            SELECT id FROM \(unescaped: schema.qualified("deliveries"))
            WHERE state = 'pending' AND next_attempt_at <= now()
            ORDER BY next_attempt_at
            LIMIT \(unescaped: String(limit))
            FOR NO KEY UPDATE SKIP LOCKED
        )
        SELECT d.id, d.idempotency_key, d.body, d.content_type, d.headers, d.attempts, d.max_attempts, d.breaker_key,
               e.id AS endpoint_id, e.url, e.secret,
               CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret END AS previous_secret,
               e.enabled, e.disabled_reason, e.max_attempts AS endpoint_max_attempts, e.backoff_base_ms, e.backoff_cap_ms,
               e.breaker_failure_threshold, e.breaker_cooldown_ms, e.breaker_cooldown_cap_ms,
               coalesce(b.state, 'closed') AS breaker_state, b.open_until AS breaker_open_until,
               coalesce(b.open_until <= now(), false) AS breaker_probe_due,
               coalesce(b.consecutive_failures, 0) AS breaker_failures,
               (SELECT count(*) FROM \(unescaped: schema.qualified("attempts")) a
                WHERE a.delivery_id = d.id AND a.outcome = 'unknown' AND a.started_at > coalesce(d.replayed_at, '-infinity')
                  AND a.id > coalesce((SELECT max(f.id) FROM \(unescaped: schema.qualified("attempts")) f
                                       WHERE f.delivery_id = d.id AND f.outcome <> 'unknown'), 0))::int AS interrupted,
               (SELECT max(u.started_at) FROM \(unescaped: schema.qualified("attempts")) u
                WHERE u.delivery_id = d.id AND u.outcome = 'unknown') AS last_unknown_at
        FROM due
        -- A lateral primary-key lookup per leased id: the few leased rows, never a scan of the table.
        CROSS JOIN LATERAL (SELECT * FROM \(unescaped: schema.qualified("deliveries")) x WHERE x.id = due.id) d
        JOIN \(unescaped: schema.qualified("endpoints")) e ON e.id = d.endpoint_id
        LEFT JOIN \(unescaped: schema.qualified("circuit_breakers")) b ON b.key = d.breaker_key
        """
        return query.reusingPlan()
    }

    /// Records a batch of outcomes in one statement: each delivery's new state and its attempt row.
    func completeQuery(_ completions: [Completion]) -> PGQuery {
        let json = PGJSON(text: JSONObjectWriter.array(completions.map(\.json)))
        let query: PGQuery = """
            WITH input AS (
                SELECT * FROM jsonb_to_recordset(\(json)::jsonb) AS x(
                    delivery_id bigint, attempt integer, state text, attempts integer, next_attempt_at timestamptz,
                    status_code integer, error text, started_at timestamptz, duration_ms integer, request_headers jsonb,
                    response_excerpt text, retryable boolean, outcome text, worker_id text, log_attempt boolean,
                    attempt_id bigint, interrupted integer)
            ), updated AS (
                UPDATE \(unescaped: schema.qualified("deliveries")) d
                SET state = i.state,
                    attempts = i.attempts,
                    next_attempt_at = coalesce(i.next_attempt_at, d.next_attempt_at),
                    last_status = coalesce(i.status_code, d.last_status),
                    -- A deferral (no send) keeps the last error; an attempt replaces it.
                    last_error = CASE WHEN i.log_attempt THEN i.error ELSE coalesce(i.error, d.last_error) END,
                    updated_at = now(),
                    interrupted_sends = coalesce(i.interrupted, d.interrupted_sends),
                    -- clock_timestamp(): now() is the lease's start, before the send.
                    finished_at = CASE WHEN i.state <> 'pending' THEN clock_timestamp() END
                FROM input i
                WHERE d.id = i.delivery_id AND d.state = 'pending'
                RETURNING d.id
            ), logged AS (
                -- The attempt row was written before the send (outcome 'unknown'); now it gets its outcome.
                UPDATE \(unescaped: schema.qualified("attempts")) a
                SET started_at = i.started_at, duration_ms = i.duration_ms, status_code = i.status_code, request_headers = i.request_headers,
                    response_excerpt = i.response_excerpt, error = i.error, retryable = i.retryable,
                    next_attempt_at = i.next_attempt_at, outcome = i.outcome
                FROM input i
                WHERE i.log_attempt AND a.id = i.attempt_id
                RETURNING 1
            ), dropped AS (
                -- Journaled, then held back unsent (its breaker tripped mid-batch): no attempt happened.
                DELETE FROM \(unescaped: schema.qualified("attempts")) a
                USING input i
                WHERE NOT i.log_attempt AND i.attempt_id IS NOT NULL AND a.id = i.attempt_id
            )
            SELECT (SELECT count(*) FROM updated)::int AS updated, (SELECT count(*) FROM logged)::int AS logged
            """
        return query
    }

    /// Records sends about to start (outcome 'unknown'), on the journal connection, committed before any
    /// request leaves: a send interrupted by a crash is on record.
    func journalQuery(_ markers: [AttemptMarker]) -> PGQuery {
        let json = PGJSON(text: JSONObjectWriter.array(markers.map(\.json)))
        let query: PGQuery = """
            INSERT INTO \(unescaped: schema.qualified("attempts")) (delivery_id, attempt, worker_id, started_at, outcome)
            SELECT delivery_id, attempt, worker_id, started_at, 'unknown'
            FROM jsonb_to_recordset(\(json)::jsonb) AS x(delivery_id bigint, attempt integer, worker_id text, started_at timestamptz)
            RETURNING id, delivery_id
            """
        return query
    }

    /// Claims the half-open probe for `key`; the row lock lasts as long as the caller's transaction.
    func claimProbeQuery(key: String) -> PGQuery {
        "SELECT \(unescaped: schema.qualified("breaker_claim_probe"))(\(key)) AS claimed"
    }

    /// Applies one batch of outcomes per breaker key, in key order (a fixed lock order avoids deadlocks
    /// between slots completing batches that touch the same keys).
    func recordBreakersQuery(_ records: [BreakerRecord]) -> PGQuery {
        let json = PGJSON(text: JSONObjectWriter.array(records.sorted { $0.key < $1.key }.map(\.json)))
        let query: PGQuery = """
            SELECT r.* FROM jsonb_to_recordset(\(json)::jsonb) AS x(
                key text, successes integer, failures integer, trailing_failures integer, probe boolean, probe_ok boolean,
                threshold integer, cooldown_ms integer, cooldown_cap_ms integer, delivery_id bigint, reason text)
            CROSS JOIN LATERAL \(unescaped: schema.qualified("breaker_record"))(
                x.key, x.successes, x.failures, x.trailing_failures, x.probe, x.probe_ok, x.threshold, x.cooldown_ms,
                x.cooldown_cap_ms, x.delivery_id, x.reason) r
            """
        return query
    }

    /// The notification channel enqueues signal on (see `enqueue` in migrations/0002).
    var wakeupChannel: String { "\(schema.rawValue).enqueued" }

    static func heraldError(_ error: PGError) -> HeraldError {
        if error.code == .server, error.sqlState == "22023" || error.sqlState == "22P02" || error.sqlState == "22021" {
            return HeraldError(.invalidInput, error.hint.map { "\(error.message). \($0)" } ?? error.message)
        }
        if error.sqlState == "42883" || error.sqlState == "42P01" || error.sqlState == "3F000" {
            return HeraldError(.database, "Herald's schema is missing or out of date (\(error.message)): run `herald migrate`")
        }
        return HeraldError(.database, error.description)
    }
}
