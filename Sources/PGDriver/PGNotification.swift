/// A message received on a channel this session `LISTEN`s to.
public struct PGNotification: Sendable, Hashable {
    /// The channel name.
    public var channel: String
    /// The payload given to `NOTIFY` / `pg_notify` (may be empty).
    public var payload: String
    /// The notifying backend's process id.
    public var senderPID: Int32
}
