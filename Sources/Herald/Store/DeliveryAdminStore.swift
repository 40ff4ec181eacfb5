public import Foundation
public import PGDriver

/// What operators do to deliveries: list, show, prune (replay and cancel: DeliveryAdminStore+Change.swift).
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

    /// An operator action on a delivery (migrations/0009's `delivery_events`).
    public struct Event: Sendable, Hashable, Codable {
        public var at: Date
        /// `replayed` or `cancelled`.
        public var what: String
        /// The state before the action.
        public var fromState: String
        /// For a replay: when the delivery had ended.
        public var endedAt: Date?
        /// The database role that ran the command.
        public var actor: String
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

    func whereClause(_ filter: Filter) -> PGQuery {
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

    /// How many deliveries match `filter` (for "showing 50 of N").
    public func count(_ filter: Filter, on connection: PGConnection) async throws -> Int {
        let condition = whereClause(filter)
        let query = PGQuery(
            sql: "SELECT count(*)::int AS n FROM \(schema.qualified("deliveries")) d JOIN \(schema.qualified("endpoints")) e ON e.id = d.endpoint_id WHERE "
                + condition.sql,
            binds: condition.binds)
        return try await connection.query(query).first?.decode("n") ?? 0
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

    /// A delivery's operator events, oldest first.
    public func events(id: Int64, on connection: PGConnection) async throws -> [Event] {
        try await connection.query(
            """
            SELECT at, what, from_state, ended_at, actor FROM \(unescaped: schema.qualified("delivery_events"))
            WHERE delivery_id = \(id) ORDER BY at, id
            """
        ).rows.map { r in
            Event(at: try r.decode("at"), what: try r.decode("what"), fromState: try r.decode("from_state"),
                  endedAt: try r.decode("ended_at"), actor: try r.decode("actor"))
        }
    }

    /// What ``prune(olderThan:batchSize:on:)`` would delete now, for `herald prune --dry-run` and the
    /// confirmation a large prune asks for.
    public struct PrunePreview: Sendable, Hashable, Codable {
        /// Finished deliveries older than the cut-off.
        public var deliveries: Int
        /// Every delivery in the table, pending included.
        public var totalDeliveries: Int
        /// The earliest and latest end among the doomed deliveries.
        public var oldestFinishedAt: Date?
        public var newestFinishedAt: Date?
        /// Circuit-breaker transitions older than the cut-off.
        public var breakerEvents: Int

        /// The share of all deliveries above which a prune on a terminal asks for `--yes`: more than half.
        ///
        /// Why half: a routine prune removes the oldest slice of a table that keeps weeks of history; one
        /// that removes most of it is likely a cut-off typed wrong (`--older-than 90s` for `90d`).
        public var needsConfirmation: Bool { deliveries > 0 && deliveries * 2 > totalDeliveries }

        public init(deliveries: Int, totalDeliveries: Int, oldestFinishedAt: Date?, newestFinishedAt: Date?, breakerEvents: Int) {
            self.deliveries = deliveries
            self.totalDeliveries = totalDeliveries
            self.oldestFinishedAt = oldestFinishedAt
            self.newestFinishedAt = newestFinishedAt
            self.breakerEvents = breakerEvents
        }
    }

    /// Counts what a prune with `olderThan` would delete, deleting nothing.
    public func prunePreview(olderThan: Duration, on connection: PGConnection) async throws -> PrunePreview {
        let cutoff = olderThan.seconds
        let row = try await connection.query(
            """
            SELECT count(*) FILTER (WHERE doomed)::int AS deliveries, count(*)::int AS total,
                   min(finished_at) FILTER (WHERE doomed) AS oldest, max(finished_at) FILTER (WHERE doomed) AS newest,
                   (SELECT count(*) FROM \(unescaped: schema.qualified("circuit_breaker_events"))
                    WHERE created_at < now() - make_interval(secs => \(cutoff)))::int AS breaker_events
            FROM (SELECT finished_at, finished_at < now() - make_interval(secs => \(cutoff)) AND state <> 'pending' AS doomed
                  FROM \(unescaped: schema.qualified("deliveries"))) d
            """
        ).first
        guard let row else { throw HeraldError(.database, "the prune preview returned no row") }
        return PrunePreview(
            deliveries: try row.decode("deliveries"), totalDeliveries: try row.decode("total"),
            oldestFinishedAt: try row.decode("oldest"), newestFinishedAt: try row.decode("newest"),
            breakerEvents: try row.decode("breaker_events"))
    }

    /// Deletes terminal deliveries (with their attempts and operator events) finished before `olderThan`
    /// ago, and circuit-breaker transitions older than that, in batches of `batchSize`, each its own short
    /// transaction; safe while workers run. Returns how many deliveries and breaker events.
    @discardableResult
    public func prune(olderThan: Duration, batchSize: Int = 1000, on connection: PGConnection) async throws -> (deliveries: Int, breakerEvents: Int) {
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
                ), events_gone AS (
                    -- Nor do operator events (migration 0009).
                    DELETE FROM \(unescaped: schema.qualified("delivery_events")) ev USING doomed WHERE ev.delivery_id = doomed.id
                )
                DELETE FROM \(unescaped: schema.qualified("deliveries")) d USING doomed WHERE d.id = doomed.id
                """
            ).affectedRows
            total += deleted
            if deleted < batchSize { break }
        }
        // The breaker history grows with every trip; without this "prune keeps the tables small" was false.
        var events = 0
        while true {
            let deleted = try await connection.query(
                """
                DELETE FROM \(unescaped: schema.qualified("circuit_breaker_events"))
                WHERE id IN (SELECT id FROM \(unescaped: schema.qualified("circuit_breaker_events"))
                             WHERE created_at < now() - make_interval(secs => \(olderThan.seconds)) ORDER BY id LIMIT \(batchSize))
                """
            ).affectedRows
            events += deleted
            if deleted < batchSize { return (total, events) }
        }
    }

    /// Shifts `$n` placeholders of `query` by `offset`, so fragments compose into one statement.
    func renumber(_ query: PGQuery, from offset: Int) -> PGQuery {
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
