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
            \(maxBodyBytes)::integer, \(request.traceparent))
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

    /// Bodies up to this size (64 KiB) come with the lease, hex-encoded in its text result; larger ones are
    /// fetched by ``bodyQuery(ids:)`` in binary, after the worker's byte budget admits them.
    static let inlineBodyBytes = 65_536

    /// Locks again the still-pending rows of `ids`, as the lease did; returns their `id`s. Used only after a
    /// refused completion rolled back the round's transaction. It waits for a row another slot leased in
    /// the moment between (never `SKIP LOCKED`): that lease saw our `unknown` journal rows and only deferred
    /// the row, so it comes back to us and our answered send is recorded instead of sent again. In id order,
    /// so two such waits never deadlock.
    func relockQuery(_ ids: [Int64]) -> PGQuery {
        let array = "{" + ids.map(String.init).joined(separator: ",") + "}"
        return """
        SELECT id FROM \(unescaped: schema.qualified("deliveries"))
        WHERE id = ANY(\(array)::bigint[]) AND state = 'pending'
        ORDER BY id
        FOR NO KEY UPDATE
        """
    }

    /// The bodies of leased deliveries `ids`, in that order (run with ``PGConnection/queryBytes(_:)``).
    func bodyQuery(ids: [Int64]) -> PGQuery {
        let array = "{" + ids.map(String.init).joined(separator: ",") + "}"
        return """
        SELECT coalesce(d.body, m.payload) AS body
        FROM unnest(\(array)::bigint[]) WITH ORDINALITY AS wanted(id, n)
        JOIN \(unescaped: schema.qualified("deliveries")) d ON d.id = wanted.id
        LEFT JOIN \(unescaped: schema.qualified("messages")) m ON m.id = d.message_id
        ORDER BY wanted.n
        """
    }

    /// What a lease needs to know besides the batch size; all worker constants, so they are spliced into the
    /// statement as integer literals and the prepared statement keeps one plan.
    struct LeaseSettings: Sendable, Hashable {
        /// Deliveries one lease takes at most.
        var limit: Int
        /// Window cap of keys whose endpoint sets no `max_in_flight`.
        var defaultCap: Int
        /// The breaker threshold of endpoints that set none: a new key's first window.
        var threshold: Int
        /// How long a half-open key's backlog waits while another worker has the probe out.
        var probeWaitMilliseconds: Int
        /// How long after an interrupted send the delivery may be sent again (``WorkerConfiguration/resendWait``).
        var resendWaitMilliseconds: Int
        /// The server ends the lease's transaction after it is idle this long (``WorkerConfiguration/idleInTransactionTimeout``).
        var idleInTransactionMilliseconds: Int
        /// Prepare the lease once per connection (``WorkerConfiguration/preparedStatements``).
        var prepared: Bool = true
    }

    /// Leases due pending deliveries, each holding a permit of its breaker key (`delivery_lease`,
    /// migrations/0008); call inside a transaction that stays open across the send. Row locks
    /// (`FOR NO KEY UPDATE SKIP LOCKED`, the lightest lock that excludes other leases) and permits (advisory
    /// transaction locks) both die with the transaction, so a worker that dies leaves its rows and permits
    /// to the others. The attempt journal, on another connection, writes attempt rows for leased deliveries;
    /// they carry no foreign key (migration 0007), whose check would lock the leased row a second time.
    ///
    /// Besides the rows, the database judges with its own clock what the worker must not judge with its
    /// own: `interrupted` counts the latest sends whose worker died or froze (poison), and
    /// `resend_not_before` is when such a send's request can no longer be open at the receiver.
    ///
    /// The rows and that history are read by `lease_rows` after the rows are locked, with a snapshot of its
    /// own (migrations 0027, 0028), not with this statement's, which is older than the locks.
    ///
    /// One key keeps at most half of a batch while other keys have due rows, which the lease finds past
    /// any backlog (migration 0025, docs/flow_control.md "Fair share between keys").
    ///
    /// `held`: rows the worker's other slots hold locked, passed over without trying their locks
    /// (``LeasedRows``, migrations/0031).
    ///
    /// Prepared once per connection (``PGQuery/reusingPlan()``): with 8 slots leasing at once this took
    /// the lease from 6.2 to 3.4 ms (docs/benchmarks.md). The ids are its one parameter, so the text stays
    /// the same from round to round.
    func leaseQuery(_ settings: LeaseSettings, held: [Int64] = []) -> PGQuery {
        let heldArray = "{" + held.map(String.init).joined(separator: ",") + "}"
        let walk = settings.limit * 16 + 256
        let query: PGQuery = """
        WITH idle_limit AS MATERIALIZED (
            -- Per transaction, not per session: behind a transaction-pooling PgBouncer the lease runs on a
            -- server connection where a session setting was never made, and a frozen worker would hold its
            -- lease until the database's own default (none). The server arms the timeout when the
            -- transaction next goes idle, i.e. across the send.
            SELECT set_config('idle_in_transaction_session_timeout', '\(unescaped: String(settings.idleInTransactionMilliseconds))', true)
        ), due AS MATERIALIZED (
            SELECT lease_id, lease_probe, backlog_key, backlog_until, lease_excess, lease_n FROM \(unescaped: schema.qualified("delivery_lease"))(\(unescaped: String(settings.limit)), \
        \(unescaped: String(walk)), \(unescaped: String(settings.defaultCap)), \(unescaped: String(settings.threshold)), \
        \(unescaped: String(settings.probeWaitMilliseconds)), \(heldArray)::bigint[]) WITH ORDINALITY AS l(lease_id, lease_probe, backlog_key, backlog_until, \
        lease_excess, lease_n) CROSS JOIN idle_limit
        ), leased AS MATERIALIZED (
            -- Read after every lock, with a snapshot of its own (migrations 0027, 0028): read with this
            -- statement's, taken before the lease's search, a delivery enqueued meanwhile was locked and
            -- unseen (taken for the status row, held unsent for the round), and a journal row that another
            -- slot wrote before it let the row go was missed, so an answered send was repeated at once.
            -- Small bodies come with the lease; larger ones are fetched in binary once the worker's byte
            -- budget admits them (bodyQuery).
            SELECT * FROM \(unescaped: schema.qualified("lease_rows"))(
                (SELECT array_agg(lease_id) FROM due WHERE lease_id IS NOT NULL), \(unescaped: String(Self.inlineBodyBytes)), \
        \(unescaped: String(settings.defaultCap)), \(unescaped: String(settings.resendWaitMilliseconds)))
        )
        SELECT due.backlog_key, due.backlog_until, due.lease_excess, due.lease_probe AS probe, r.*
        FROM due
        LEFT JOIN leased r ON r.id = due.lease_id
        -- In the lease's order, as when each row was read by a lateral lookup.
        ORDER BY due.lease_n
        """
        return settings.prepared ? query.reusingPlan() : query
    }

    /// Records a batch of outcomes in one statement: each delivery's new state and its attempt row.
    ///
    /// Planned on every call, not prepared: a generic plan made while the queue was small (a sequential scan
    /// of `deliveries` or `attempts`) would stay in use as they grow (docs/benchmarks.md, "Tried and not
    /// kept"). The lease's functions avoid that trap with settings of their own (migrations/0032); a
    /// top-level statement cannot carry them.
    ///
    /// The ids also come as arrays (`= ANY`), which the plan sees: from the JSON alone the planner expects
    /// 100 rows and, with a few tens of thousands of deliveries, chose to read the whole table to join them
    /// rather than look each up by key (LeasePlanTests: 20,151 rows of `deliveries` read to complete 2).
    func completeQuery(_ completions: [Completion]) -> PGQuery {
        let json = PGJSON(text: JSONObjectWriter.array(completions.map(\.json)))
        let deliveryIDs = "{" + completions.map { String($0.deliveryID) }.joined(separator: ",") + "}"
        let attemptIDs = "{" + completions.compactMap { $0.attemptID.map(String.init) }.joined(separator: ",") + "}"
        let query: PGQuery = """
            WITH input AS (
                SELECT * FROM jsonb_to_recordset(\(json)::jsonb) AS x(\(unescaped: Completion.columns))
            ), updated AS (
                UPDATE \(unescaped: schema.qualified("deliveries")) d
                SET state = i.state,
                    attempts = coalesce(i.attempts, d.attempts),
                    next_attempt_at = coalesce(i.next_attempt_at, d.next_attempt_at),
                    last_status = coalesce(i.status_code, d.last_status),
                    -- A deferral (no send) keeps the last error; an attempt replaces it.
                    last_error = CASE WHEN i.log_attempt THEN i.error ELSE coalesce(i.error, d.last_error) END,
                    updated_at = now(),
                    interrupted_sends = coalesce(i.interrupted, d.interrupted_sends),
                    -- clock_timestamp(): now() is the lease's start, before the send.
                    finished_at = CASE WHEN i.state <> 'pending' THEN clock_timestamp() END
                FROM input i
                WHERE d.id = i.delivery_id AND d.state = 'pending' AND d.id = ANY (\(deliveryIDs)::bigint[])
                RETURNING d.id
            ), logged AS (
                -- The attempt row was written before the send (outcome 'unknown'); now it gets its outcome.
                UPDATE \(unescaped: schema.qualified("attempts")) a
                SET started_at = i.started_at, duration_ms = i.duration_ms, status_code = i.status_code, request_headers = i.request_headers,
                    response_excerpt = i.response_excerpt, error = i.error, retryable = i.retryable,
                    next_attempt_at = i.next_attempt_at, outcome = i.outcome
                FROM input i
                WHERE i.log_attempt AND a.id = i.attempt_id AND a.id = ANY (\(attemptIDs)::bigint[])
                RETURNING 1
            ), dropped AS (
                -- Journaled, then held back unsent (its breaker tripped mid-batch): no attempt happened.
                DELETE FROM \(unescaped: schema.qualified("attempts")) a
                USING input i
                WHERE NOT i.log_attempt AND i.attempt_id IS NOT NULL AND a.id = i.attempt_id AND a.id = ANY (\(attemptIDs)::bigint[])
            )
            SELECT (SELECT count(*) FROM updated)::int AS updated, (SELECT count(*) FROM logged)::int AS logged
            """
        return query
    }

    /// Records sends about to start (outcome 'unknown') and reserves rate limits (`attempt_journal`,
    /// migrations/0008), on the journal connection, committed before any request leaves: a send interrupted
    /// by a crash is on record. Rows: `journal_delivery_id`, `journal_attempt_id` (nil when the key's rate
    /// limit refused the send) and `journal_not_before` (when it may be sent instead).
    func journalQuery(_ markers: [AttemptMarker]) -> PGQuery {
        let json = PGJSON(text: JSONObjectWriter.array(markers.map(\.json)))
        return "SELECT * FROM \(unescaped: schema.qualified("attempt_journal"))(\(json)::jsonb)"
    }

    /// Deletes this worker's `unknown` journal rows for these (delivery, attempt) pairs, except `keep`: rows
    /// a journal statement may have written before its answer was lost (the connection died after the
    /// commit), so that they never read as sends that began.
    func journalForgetQuery(workerID: String, markers: [(deliveryID: Int64, attempt: Int)], keep: [Int64]) -> PGQuery {
        let ids = "{" + markers.map { String($0.deliveryID) }.joined(separator: ",") + "}"
        let attempts = "{" + markers.map { String($0.attempt) }.joined(separator: ",") + "}"
        let kept = "{" + keep.map(String.init).joined(separator: ",") + "}"
        return """
            DELETE FROM \(unescaped: schema.qualified("attempts")) a
            USING unnest(\(ids)::bigint[], \(attempts)::integer[]) AS m(delivery_id, attempt)
            WHERE a.delivery_id = m.delivery_id AND a.attempt = m.attempt AND a.worker_id = \(workerID)
              AND a.outcome = 'unknown' AND a.id <> ALL(\(kept)::bigint[])
            """
    }

    /// Moves up to `limit` of `key`'s due pending rows to `until` (when the key may send again), skipping
    /// rows others hold; returns how many moved. Run in a loop in short transactions of its own after a trip
    /// or a lease that found a large held-back backlog: never the whole backlog in one worker's commit.
    func breakerDeferBacklogQuery(key: String, until: Date, limit: Int = 5000) -> PGQuery {
        """
        WITH moved AS (
            UPDATE \(unescaped: schema.qualified("deliveries")) SET next_attempt_at = \(until), updated_at = now()
            WHERE id IN (SELECT id FROM \(unescaped: schema.qualified("deliveries"))
                         WHERE breaker_key = \(key) AND state = 'pending' AND next_attempt_at < \(until)
                         ORDER BY next_attempt_at
                         LIMIT \(limit)
                         FOR UPDATE SKIP LOCKED)
            RETURNING 1
        )
        SELECT count(*)::int AS moved FROM moved
        """
    }

    /// Settles journal rows of a round that failed while this worker lived (its lease ended, or it
    /// stopped): sends that began become 'interrupted', which never counts toward parking; rows of sends
    /// that never began are deleted, since nothing happened.
    func journalAbandonQuery(began: [Int64], neverBegan: [Int64], reason: String) -> PGQuery {
        let began = "{" + began.map(String.init).joined(separator: ",") + "}"
        let neverBegan = "{" + neverBegan.map(String.init).joined(separator: ",") + "}"
        return """
            WITH marked AS (
                UPDATE \(unescaped: schema.qualified("attempts")) SET outcome = 'interrupted', error = \(reason)
                WHERE id = ANY(\(began)::bigint[]) AND outcome = 'unknown'
            )
            DELETE FROM \(unescaped: schema.qualified("attempts")) WHERE id = ANY(\(neverBegan)::bigint[]) AND outcome = 'unknown'
            """
    }

    /// Applies one batch of outcomes per breaker key, in key order (a fixed lock order avoids deadlocks
    /// between slots completing batches that touch the same keys). A record marked
    /// ``BreakerRecord/onlyIfUnsteady`` is applied only if its key, as this statement sees it, is no longer
    /// closed without failures at its cap: a read of one row by its key, no write in the steady case.
    func recordBreakersQuery(_ records: [BreakerRecord]) -> PGQuery {
        let json = PGJSON(text: JSONObjectWriter.array(records.sorted { $0.key < $1.key }.map(\.json)))
        let query: PGQuery = """
            SELECT x.key AS breaker_key, r.* FROM (
                SELECT * FROM jsonb_to_recordset(\(json)::jsonb) AS y(\(unescaped: BreakerRecord.columns))
                WHERE NOT y.only_if_unsteady OR EXISTS (
                    SELECT 1 FROM \(unescaped: schema.qualified("circuit_breakers")) b
                    WHERE b.key = y.key AND (b.state <> 'closed' OR b.consecutive_failures > 0 OR coalesce(b.send_window, 0) < y.cap))
            ) x
            CROSS JOIN LATERAL \(unescaped: schema.qualified("breaker_record"))(
                x.key, x.successes, x.failures, x.trailing_failures, x.probe, x.probe_ok, x.threshold, x.cooldown_ms,
                x.cooldown_cap_ms, x.delivery_id, x.reason, x.congested, x.retry_after_ms, x.cap) r
            """
        return query
    }

    /// Applies one batch's lessons about its endpoints (`endpoint_outcomes_record`, migrations/0012): clears
    /// or starts "failing since", disables an endpoint that answered 410 Gone or failed for longer than
    /// `disableAfter` (nil: never for failing), records `endpoint_events` and publishes the operational
    /// webhooks. Rows: `disabled_endpoint_id`, `disabled_why` for each endpoint it disabled.
    func recordEndpointOutcomesQuery(_ outcomes: [EndpointOutcome], disableAfter: Duration?) -> PGQuery {
        let json = PGJSON(text: JSONObjectWriter.array(outcomes.sorted { $0.endpointID < $1.endpointID }.map(\.json)))
        let milliseconds: Int64? = disableAfter.map { Int64($0.seconds * 1000) }
        return "SELECT * FROM \(unescaped: schema.qualified("endpoint_outcomes_record"))(\(json)::jsonb, \(milliseconds)::bigint)"
    }

    /// The notification channel enqueues signal on (see `enqueue` in migrations/0002).
    var wakeupChannel: String { "\(schema.rawValue).enqueued" }

    static func heraldError(_ error: PGError) -> HeraldError {
        // Class 22 is "data exception": the value given cannot be taken (22023 from Herald's own checks, 22P02
        // a malformed number, 22P05 a \u0000 in JSON, 22003 a number out of range, …). 22021 also comes from
        // the driver itself, for a NUL in a text value (PGConnection.refuseNUL).
        if error.code == .server || error.code == .client, error.sqlState?.hasPrefix("22") == true {
            return HeraldError(.invalidInput, error.hint.map { "\(error.message). \($0)" } ?? error.message)
        }
        if error.sqlState == "42883" || error.sqlState == "42P01" || error.sqlState == "3F000" {
            return HeraldError(.database, "Herald's schema is missing or out of date (\(error.message)): run `herald migrate`")
        }
        return HeraldError(.database, error.description)
    }
}
