public import PGDriver

/// Herald's producer API: queue webhooks on your own connection, inside your own transaction.
///
/// ```swift
/// try await conn.withTransaction { tx in
///     try await tx.query("INSERT INTO invoices …")
///     try await WebhookQueue(schema: .default).enqueue(EnqueueRequest(url: hookURL, body: payload), on: tx)
/// }
/// ```
/// The webhook exists if and only if the transaction commits (transactional outbox), and idle workers are
/// woken at commit. It calls the `enqueue` SQL function, so validation is the same as for SQL producers.
public struct WebhookQueue: Sendable {
    /// The schema Herald was migrated into.
    public let schema: SchemaName
    /// Largest body accepted; nil means the database's `herald.max_body_bytes`, else 1 MiB.
    public var maxBodyBytes: Int?

    public init(schema: SchemaName, maxBodyBytes: Int? = nil) {
        self.schema = schema
        self.maxBodyBytes = maxBodyBytes
    }

    /// Queues `request` on `connection` and returns the delivery id (the existing one for a repeated
    /// event id).
    /// - Throws: ``HeraldError/Code/invalidInput`` for a request Herald refuses (nothing is written), or
    ///   ``HeraldError/Code/database`` when the database fails.
    @discardableResult
    public func enqueue(_ request: EnqueueRequest, on connection: PGConnection) async throws -> Int64 {
        try await enqueueWithOutcome(request, on: connection).id
    }

    /// Like ``enqueue(_:on:)``, and says whether the event id was a repeat and whether the endpoint is
    /// disabled (see ``EnqueueOutcome``).
    public func enqueueWithOutcome(_ request: EnqueueRequest, on connection: PGConnection) async throws -> EnqueueOutcome {
        try await DeliveryStore(schema: schema).enqueue(request, maxBodyBytes: maxBodyBytes, on: connection)
    }

    /// Publishes `request`'s event on `connection`: the payload is stored once as a message and fanned out
    /// to every enabled endpoint of the application subscribed to its type (and channel), in the caller's
    /// transaction, like ``enqueue(_:on:)``. Calls the `publish_with_outcome` SQL function, so validation
    /// is the same as for SQL producers.
    /// - Throws: ``HeraldError/Code/invalidInput`` for a request Herald refuses (nothing is written), or
    ///   ``HeraldError/Code/database`` when the database fails.
    public func publish(_ request: PublishRequest, on connection: PGConnection) async throws -> PublishOutcome {
        try await MessageStore(schema: schema).publish(request, maxBodyBytes: maxBodyBytes, on: connection)
    }
}
