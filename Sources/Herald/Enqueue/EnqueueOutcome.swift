/// What an enqueue did: the delivery id, and whether anything deserves the producer's attention.
///
/// Why: a repeated event id used to return the first delivery's id, and an enqueue to a disabled
/// endpoint was accepted, both without a word. Neither is an error (the first is deduplication working,
/// the second must not fail a producer's business transaction), but a person typing `herald enqueue`
/// should be told.
public struct EnqueueOutcome: Sendable, Hashable, Codable {
    /// The delivery: the new one, or for a repeated event id the first one.
    public var id: Int64
    /// The (URL, event id) was queued before; nothing new was queued.
    public var duplicate: Bool
    /// The endpoint the URL belongs to.
    public var endpointID: Int64
    /// Set when that endpoint is disabled: the delivery fails with this reason when due unless the
    /// endpoint is enabled first.
    public var endpointDisabledReason: String?

    public init(id: Int64, duplicate: Bool, endpointID: Int64, endpointDisabledReason: String?) {
        self.id = id
        self.duplicate = duplicate
        self.endpointID = endpointID
        self.endpointDisabledReason = endpointDisabledReason
    }
}
