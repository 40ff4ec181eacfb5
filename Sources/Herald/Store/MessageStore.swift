public import Foundation
public import PGDriver

/// Messages (migrations/0012): an application's events, stored once and fanned out to its endpoints;
/// `WebhookQueue.publish` and `herald messages`.
public struct MessageStore: Sendable {
    public let schema: SchemaName

    public init(schema: SchemaName) { self.schema = schema }

    /// Calls `<schema>.publish_with_outcome(...)` on the caller's connection (and transaction).
    func publish(_ request: PublishRequest, maxBodyBytes: Int?, on connection: PGConnection) async throws -> PublishOutcome {
        let headers = try PGJSON(encoding: request.headers)
        let channels = try PGJSON(encoding: request.channels)
        let query: PGQuery = """
            SELECT message_id, duplicate, queued
            FROM \(unescaped: schema.qualified("publish_with_outcome"))(\(request.application), \(request.eventType), \(request.payload), \
            \(request.eventID), ARRAY(SELECT jsonb_array_elements_text(\(channels)::jsonb)), \(headers)::jsonb, \(request.contentType), \
            \(maxBodyBytes)::integer, \(request.traceparent))
            """
        return try await DatabaseErrors.mapping {
            guard let row = try await connection.query(query).first else {
                throw HeraldError(.database, "publish_with_outcome returned no row")
            }
            return PublishOutcome(messageID: try row.decode("message_id"), duplicate: try row.decode("duplicate"), queued: try row.decode("queued"))
        }
    }

    /// A message as listed: never its payload, which may be large or sensitive.
    public struct Message: Sendable, Hashable, Codable {
        public var id: Int64
        public var applicationID: String
        public var eventType: String
        public var eventID: String?
        /// nil: published on no channel.
        public var channels: [String]?
        public var contentType: String
        /// The payload's size in bytes; nil once pruned.
        public var sizeBytes: Int?
        /// When `herald prune --payloads-older-than` dropped the payload (the message and its deliveries stay).
        public var payloadPrunedAt: Date?
        /// Deliveries of this message, one per endpoint it was fanned out to.
        public var deliveries: Int
        public var createdAt: Date
    }

    /// One delivery of a message, as `herald messages show` lists them: one per endpoint.
    public struct EndpointDelivery: Sendable, Hashable, Codable {
        public var deliveryID: Int64
        public var endpointID: Int64
        public var url: String
        public var state: String
        public var attempts: Int
        public var lastStatus: Int?
        public var lastError: String?
        public var finishedAt: Date?
    }

    var selectSQL: String {
        """
        SELECT m.id, m.application_id, m.event_type, m.event_id, to_jsonb(m.channels)::text AS channels, m.content_type,
               octet_length(m.payload) AS size_bytes, m.payload_pruned_at, m.created_at,
               (SELECT count(*) FROM \(schema.qualified("deliveries")) d WHERE d.message_id = m.id)::int AS deliveries
        FROM \(schema.qualified("messages")) m
        """
    }

    func decode(_ row: PGRow) throws -> Message {
        Message(
            id: try row.decode("id"), applicationID: try row.decode("application_id"), eventType: try row.decode("event_type"),
            eventID: try row.decode("event_id"),
            channels: try row.decode("channels", as: PGJSON?.self).map { try $0.decode([String].self) },
            contentType: try row.decode("content_type"), sizeBytes: try row.decode("size_bytes"),
            payloadPrunedAt: try row.decode("payload_pruned_at"), deliveries: try row.decode("deliveries"),
            createdAt: try row.decode("created_at"))
    }

    /// Messages newest first, of one application and of one event type when given.
    public func list(application: String?, eventType: String?, limit: Int, on connection: PGConnection) async throws -> [Message] {
        let query = PGQuery(
            sql: selectSQL + """

                WHERE ($1::text IS NULL OR m.application_id = $1::text) AND ($2::text IS NULL OR m.event_type = $2::text)
                ORDER BY m.id DESC LIMIT $3
                """,
            binds: [application.map(\.pgBind) ?? .null, eventType.map(\.pgBind) ?? .null, limit.pgBind])
        return try await DatabaseErrors.mapping { try await connection.query(query).rows.map(decode) }
    }

    /// One message and its deliveries, one per endpoint, in endpoint order.
    /// - Throws: ``HeraldError/Code/notFound`` for an unknown id.
    public func show(id: Int64, on connection: PGConnection) async throws -> (Message, [EndpointDelivery]) {
        try await DatabaseErrors.mapping {
            guard let row = try await connection.query(PGQuery(sql: selectSQL + " WHERE m.id = $1", binds: [id.pgBind])).first else {
                throw HeraldError(.notFound, "no message \(id); `herald messages list` shows them")
            }
            let deliveries = try await connection.query(
                """
                SELECT d.id, d.endpoint_id, e.url, d.state, d.attempts, d.last_status, d.last_error, d.finished_at
                FROM \(unescaped: schema.qualified("deliveries")) d JOIN \(unescaped: schema.qualified("endpoints")) e ON e.id = d.endpoint_id
                WHERE d.message_id = \(id) ORDER BY d.endpoint_id, d.id
                """
            ).rows.map { r in
                EndpointDelivery(
                    deliveryID: try r.decode("id"), endpointID: try r.decode("endpoint_id"), url: try r.decode("url"), state: try r.decode("state"),
                    attempts: try r.decode("attempts"), lastStatus: try r.decode("last_status"), lastError: try r.decode("last_error"),
                    finishedAt: try r.decode("finished_at"))
            }
            return (try decode(row), deliveries)
        }
    }
}
