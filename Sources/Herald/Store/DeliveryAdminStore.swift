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
        /// The endpoint's application ('default' for deliveries made by `enqueue(url, …)`).
        public var applicationID: String
        public var endpointID: Int64
        /// The message this delivery fans out (nil: enqueued directly, with a body of its own).
        public var messageID: Int64?
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
        /// `herald prune --payloads-older-than` dropped its body (or its message's payload): it cannot be replayed.
        public var payloadPruned: Bool
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

    /// Filters for ``list(_:limit:on:)`` and bulk replay, cancel and retry-now.
    public struct Filter: Sendable {
        public var states: [DeliveryState]
        /// Endpoint id or URL.
        public var endpoint: String?
        /// Created within this long.
        public var since: Duration?
        /// Deliveries of this application's endpoints.
        public var application: String?
        /// Deliveries of this message.
        public var messageID: Int64?
        /// Ended at or after this moment (`herald endpoints enable --replay-since`).
        public var finishedSince: PointInTime?
        public init(
            states: [DeliveryState] = [], endpoint: String? = nil, since: Duration? = nil, application: String? = nil,
            messageID: Int64? = nil, finishedSince: PointInTime? = nil
        ) {
            self.states = states
            self.endpoint = endpoint
            self.since = since
            self.application = application
            self.messageID = messageID
            self.finishedSince = finishedSince
        }

        /// Whether anything narrows the deliveries beyond explicit ids.
        var isFiltered: Bool {
            !states.isEmpty || endpoint != nil || since != nil || application != nil || messageID != nil || finishedSince != nil
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
            AND (\(filter.application)::text IS NULL OR e.application_id = \(filter.application)::text)
            AND (\(filter.messageID)::bigint IS NULL OR d.message_id = \(filter.messageID)::bigint)
            AND ((\(filter.finishedSince?.secondsAgo)::float8 IS NULL AND \(filter.finishedSince?.epochSeconds)::float8 IS NULL)
                 OR d.finished_at >= coalesce(to_timestamp(\(filter.finishedSince?.epochSeconds)::float8),
                                              now() - make_interval(secs => \(filter.finishedSince?.secondsAgo)::float8)))
            """
    }

    var columns: String {
        """
        d.id, d.state, e.application_id, d.endpoint_id, d.message_id, e.url, d.event_type, d.event_id, d.idempotency_key, d.attempts,
        d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.finished_at,
        (d.body IS NULL AND (d.message_id IS NULL
            OR (SELECT m.payload IS NULL FROM \(schema.qualified("messages")) m WHERE m.id = d.message_id))) AS payload_pruned
        """
    }

    func decode(_ row: PGRow) throws -> Delivery {
        Delivery(
            id: try row.decode("id"), state: try row.decode("state"), applicationID: try row.decode("application_id"),
            endpointID: try row.decode("endpoint_id"), messageID: try row.decode("message_id"), url: try row.decode("url"),
            eventType: try row.decode("event_type"),
            eventID: try row.decode("event_id"), idempotencyKey: try row.decode("idempotency_key"), attempts: try row.decode("attempts"),
            nextAttemptAt: try row.decode("next_attempt_at"), lastStatus: try row.decode("last_status"), lastError: try row.decode("last_error"),
            createdAt: try row.decode("created_at"), finishedAt: try row.decode("finished_at"), payloadPruned: try row.decode("payload_pruned"))
    }

    /// Deliveries matching `filter`, newest first.
    public func list(_ filter: Filter, limit: Int, on connection: PGConnection) async throws -> [Delivery] {
        let condition = whereClause(filter)
        var query = PGQuery(
            sql: "SELECT \(columns) FROM \(schema.qualified("deliveries")) d JOIN \(schema.qualified("endpoints")) e ON e.id = d.endpoint_id WHERE ",
            binds: [])
        query = PGQuery(sql: query.sql + renumber(condition, from: 0).sql + " ORDER BY d.id DESC LIMIT $\(condition.binds.count + 1)", binds: condition.binds + [limit.pgBind])
        return try await connection.query(query).rows.map(decode)
    }

    /// How many deliveries match `filter`, counted up to `cap` + 1 (for "showing 50 of N"): with the kept
    /// history of 10 million deliveries an exact count read them all (1.2 s, `make bench-history`) to
    /// print one hint line; past `cap` the hint says "more than".
    public func count(_ filter: Filter, upTo cap: Int, on connection: PGConnection) async throws -> Int {
        let condition = whereClause(filter)
        let query = PGQuery(
            sql: "SELECT count(*)::int AS n FROM (SELECT 1 FROM \(schema.qualified("deliveries")) d JOIN \(schema.qualified("endpoints")) e ON e.id = d.endpoint_id WHERE "
                + condition.sql + " LIMIT \(cap + 1)) matching",
            binds: condition.binds)
        return try await connection.query(query).first?.decode("n") ?? 0
    }

    /// One delivery and its attempts in order.
    public func show(id: Int64, on connection: PGConnection) async throws -> (Delivery, [Attempt]) {
        let result = try await connection.query(
            "SELECT \(unescaped: columns) FROM \(unescaped: schema.qualified("deliveries")) d JOIN \(unescaped: schema.qualified("endpoints")) e ON e.id = d.endpoint_id WHERE d.id = \(id)")
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
