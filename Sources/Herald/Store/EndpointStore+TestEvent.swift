public import PGDriver

extension EndpointStore {
    /// What ``sendTest(_:application:eventType:on:)`` queued.
    public struct TestEvent: Sendable, Hashable, Codable {
        public var endpointID: Int64
        public var messageID: Int64
        public var deliveryID: Int64
    }

    /// The event type of a test event unless another is given.
    public static let testEventType = "herald.test"

    /// Queues one test event to one endpoint through the SQL `endpoint_send_test` (migrations/0016),
    /// whatever its subscriptions: a message of its application with one delivery, sent, signed and
    /// audited like any other, so a receiver can be checked end to end.
    /// - Throws: ``HeraldError/Code/notFound`` for no such endpoint; ``HeraldError/Code/invalidInput`` for
    ///   an invalid event type or a disabled endpoint (the database's message says which).
    public func sendTest(
        _ idOrURL: String, application: String? = nil, eventType: String = EndpointStore.testEventType, on connection: PGConnection
    ) async throws -> TestEvent {
        let endpoint = try await find(idOrURL, application: application, on: connection)
        let row = try await DatabaseErrors.mapping {
            try await connection.query(
                "SELECT message_id, delivery_id FROM \(unescaped: schema.qualified("endpoint_send_test"))(\(endpoint.id), \(eventType))"
            ).first
        }
        guard let row else { throw HeraldError(.notFound, "endpoint \(endpoint.id) vanished while queueing the test event") }
        return TestEvent(endpointID: endpoint.id, messageID: try row.decode("message_id"), deliveryID: try row.decode("delivery_id"))
    }
}
