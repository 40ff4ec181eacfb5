/// What a publish did: the message, whether it was a repeat, and how many deliveries it queued.
///
/// Why the count: a publish that reached no endpoint (none registered, none subscribed to the type or the
/// channel) is not an error, but a producer or an operator typing `herald publish` wants to see the 0.
public struct PublishOutcome: Sendable, Hashable, Codable {
    /// The message: the new one, or for a repeated event id the first one.
    public var messageID: Int64
    /// The (application, event id) was published before; nothing new was queued.
    public var duplicate: Bool
    /// Deliveries this publish queued: one per subscribed, enabled endpoint.
    public var queued: Int

    public init(messageID: Int64, duplicate: Bool, queued: Int) {
        self.messageID = messageID
        self.duplicate = duplicate
        self.queued = queued
    }
}
