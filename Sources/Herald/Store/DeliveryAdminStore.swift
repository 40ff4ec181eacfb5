public import Foundation
public import PGDriver

/// What operators do to deliveries: list, show, replay, cancel, prune, and the status summary.
public struct DeliveryAdminStore: Sendable {
    public let schema: SchemaName

    public init(schema: SchemaName) { self.schema = schema }

    /// A delivery as listed.
    public struct Delivery: Sendable, Hashable, Codable {
        public var id: Int64
        public var state: String
        public var url: String
        public var eventType: String
        public var eventID: String?
        public var idempotencyKey: String
        public var attempts: Int
        public var nextAttemptAt: Date
        public var lastStatus: Int?
        public var lastError: String?
        public var createdAt: Date
        public var finishedAt: Date?
    }

    /// One attempt of a delivery's timeline.
    public struct Attempt: Sendable, Hashable, Codable {
        public var attempt: Int
        public var startedAt: Date
        public var durationMs: Int?
        public var statusCode: Int?
        public var outcome: String
        public var error: String?
        public var responseExcerpt: String?
        public var workerID: String
        public var nextAttemptAt: Date?
    }

    /// Filters for ``list(state:endpoint:since:limit:on:)`` and bulk replay.
    public struct Filter: Sendable {
        public var states: [DeliveryState]
        public var endpoint: String?
        public var since: Duration?
        public init(states: [DeliveryState] = [], endpoint: String? = nil, since: Duration? = nil) {
            self.states = states
            self.endpoint = endpoint
            self.since = since
        }
    }

    private func whereClause(_ filter: Filter) -> PGQuery {
        let states = "{" + filter.states.map(\.rawValue).joined(separator: ",") + "}"
        let endpointID = filter.endpoint.flatMap { Int64($0) }
        let endpointURL = endpointID == nil ? filter.endpoint : nil
        let since = filter.since?.seconds
        return """
            (cardinality(\(states)::text[]) = 0 OR d.state = ANY(\(states)::text[]))
            AND (\(endpointID)::bigint IS NULL OR d.endpoint_id = \(endpointID)::bigint)
            AND (\(endpointURL)::text IS NULL OR e.url = \(endpointURL)::text)
            AND (\(since)::float8 IS NULL OR d.created_at >= now() - make_interval(secs => \(since)::float8))
            """
    }

    private static let columns = """
        d.id, d.state, e.url, d.event_type, d.event_id, d.idempotency_key, d.attempts, d.next_attempt_at, d.last_status,
        d.last_error, d.created_at, d.finished_at
        """

    private func decode(_ row: PGRow) throws -> Delivery {
        Delivery(
            id: try row.decode("id"), state: try row.decode("state"), url: try row.decode("url"), eventType: try row.decode("event_type"),
            eventID: try row.decode("event_id"), idempotencyKey: try row.decode("idempotency_key"), attempts: try row.decode("attempts"),
            nextAttemptAt: try row.decode("next_attempt_at"), lastStatus: try row.decode("last_status"), lastError: try row.decode("last_error"),
            createdAt: try row.decode("created_at"), finishedAt: try row.decode("finished_at"))
    }

    /// Deliveries matching `filter`, newest first.
    public func list(_ filter: Filter, limit: Int, on connection: PGConnection) async throws -> [Delivery] {
        let condition = whereClause(filter)
        var query = PGQuery(
            sql: "SELECT \(Self.columns) FROM \(schema.qualified("deliveries")) d JOIN \(schema.qualified("endpoints")) e ON e.id = d.endpoint_id WHERE ",
            binds: [])
        query = PGQuery(sql: query.sql + renumber(condition, from: 0).sql + " ORDER BY d.id DESC LIMIT $\(condition.binds.count + 1)", binds: condition.binds + [limit.pgBind])
        return try await connection.query(query).rows.map(decode)
    }

    /// One delivery and its attempts in order.
    public func show(id: Int64, on connection: PGConnection) async throws -> (Delivery, [Attempt]) {
        let result = try await connection.query(
            "SELECT \(unescaped: Self.columns) FROM \(unescaped: schema.qualified("deliveries")) d JOIN \(unescaped: schema.qualified("endpoints")) e ON e.id = d.endpoint_id WHERE d.id = \(id)")
        guard let row = result.first else { throw HeraldError(.notFound, "no delivery \(id); `herald deliveries list` shows them") }
        let attempts = try await connection.query(
            """
            SELECT attempt, started_at, duration_ms, status_code, outcome, error, response_excerpt, worker_id, next_attempt_at
            FROM \(unescaped: schema.qualified("attempts")) WHERE delivery_id = \(id) ORDER BY started_at, id
            """
        ).rows.map { r in
            Attempt(
                attempt: try r.decode("attempt"), startedAt: try r.decode("started_at"), durationMs: try r.decode("duration_ms"),
                statusCode: try r.decode("status_code"), outcome: try r.decode("outcome"), error: try r.decode("error"),
                responseExcerpt: try r.decode("response_excerpt"), workerID: try r.decode("worker_id"), nextAttemptAt: try r.decode("next_attempt_at"))
        }
        return (try decode(row), attempts)
    }

    /// Puts failed, dead or cancelled deliveries back to `pending` with a fresh attempt budget; the body
    /// and idempotency key are untouched. Returns how many. Wakes idle workers.
    public func replay(ids: [Int64]?, filter: Filter, on connection: PGConnection) async throws -> Int {
        let count = try await changeState(ids: ids, filter: filter, from: ["failed", "dead", "cancelled"], on: connection) {
            "state = 'pending', attempts = 0, interrupted_sends = 0, next_attempt_at = now(), finished_at = NULL, updated_at = now(), replayed_at = clock_timestamp()"
        }
        if count > 0 { try await connection.notify(DeliveryStore(schema: schema).wakeupChannel) }
        return count
    }

    /// Cancels pending deliveries; ones leased by a worker right now are skipped (their send is in flight).
    public func cancel(ids: [Int64]?, filter: Filter, on connection: PGConnection) async throws -> Int {
        try await changeState(ids: ids, filter: filter, from: ["pending"], on: connection) {
            "state = 'cancelled', finished_at = now(), updated_at = now(), last_error = 'cancelled by operator'"
        }
    }

    private func changeState(
        ids: [Int64]?, filter: Filter, from: [String], on connection: PGConnection, set: () -> String
    ) async throws -> Int {
        let idArray = ids.map { "{" + $0.map(String.init).joined(separator: ",") + "}" }
        let fromArray = "{" + from.joined(separator: ",") + "}"
        let condition = renumber(whereClause(filter), from: 2)
        let query = PGQuery(
            sql: """
                WITH target AS (
                    SELECT d.id FROM \(schema.qualified("deliveries")) d JOIN \(schema.qualified("endpoints")) e ON e.id = d.endpoint_id
                    WHERE d.state = ANY($1::text[]) AND ($2::bigint[] IS NULL OR d.id = ANY($2::bigint[])) AND \(condition.sql)
                    FOR UPDATE OF d SKIP LOCKED
                ), changed AS (
                    UPDATE \(schema.qualified("deliveries")) d SET \(set()) FROM target WHERE d.id = target.id RETURNING d.id
                )
                SELECT count(*)::int AS n FROM changed
                """,
            binds: [fromArray.pgBind, idArray.map { $0.pgBind } ?? .null] + condition.binds)
        return try await connection.query(query).first?.decode("n") ?? 0
    }

    /// Deletes terminal deliveries (and their attempts) finished before `olderThan` ago, in batches of
    /// `batchSize`, each its own short transaction; safe while workers run. Returns how many.
    public func prune(olderThan: Duration, batchSize: Int = 1000, on connection: PGConnection) async throws -> Int {
        var total = 0
        while true {
            let deleted = try await connection.query(
                """
                WITH doomed AS (
                    SELECT id FROM \(unescaped: schema.qualified("deliveries"))
                    WHERE finished_at < now() - make_interval(secs => \(olderThan.seconds)) AND state <> 'pending'
                    ORDER BY finished_at LIMIT \(batchSize) FOR UPDATE SKIP LOCKED
                ), attempts_gone AS (
                    -- Attempt rows have no foreign key (migration 0007): they go with their delivery here.
                    DELETE FROM \(unescaped: schema.qualified("attempts")) a USING doomed WHERE a.delivery_id = doomed.id
                )
                DELETE FROM \(unescaped: schema.qualified("deliveries")) d USING doomed WHERE d.id = doomed.id
                """
            ).affectedRows
            total += deleted
            if deleted < batchSize { return total }
        }
    }

    /// Shifts `$n` placeholders of `query` by `offset`, so fragments compose into one statement.
    private func renumber(_ query: PGQuery, from offset: Int) -> PGQuery {
        guard offset > 0 else { return query }
        var out = ""
        var chars = query.sql.makeIterator()
        var pending: Character? = nil
        while let c = pending ?? chars.next() {
            pending = nil
            guard c == "$" else {
                out.append(c)
                continue
            }
            var digits = ""
            while let d = chars.next() {
                if d.isASCII && d.isNumber {
                    digits.append(d)
                } else {
                    pending = d
                    break
                }
            }
            out += digits.isEmpty ? "$" : "$\(Int(digits)! + offset)"
        }
        return PGQuery(sql: out, binds: query.binds)
    }
}
