/// Where a delivery is in its life. Drawn in `docs/state_machine.md`.
///
/// ```
/// pending ──2xx──────────────▶ delivered
///    │ ──4xx, 3xx, disabled──▶ failed
///    │ ──retryable, budget spent──▶ dead
///    │ ──operator──▶ cancelled
///    └──retryable──▶ pending (next_attempt_at later)
/// failed, dead, cancelled ──operator replay──▶ pending (fresh budget)
/// ```
public enum DeliveryState: String, Sendable, Hashable, CaseIterable, Codable {
    /// Waiting for its first attempt or a scheduled retry.
    case pending
    /// An attempt got a 2xx answer.
    case delivered
    /// Given up without exhausting retries: a non-retryable answer, or a disabled endpoint.
    case failed
    /// Every allowed attempt failed with a retryable error.
    case dead
    /// Stopped by an operator.
    case cancelled

    /// Terminal states are never leased again (only an operator's replay brings them back).
    public var isTerminal: Bool { self != .pending }

    /// Whether an operator or the engine may move a delivery from `self` to `next`.
    public func canTransition(to next: DeliveryState) -> Bool {
        switch (self, next) {
        case (.pending, .pending), (.pending, .delivered), (.pending, .failed), (.pending, .dead), (.pending, .cancelled):
            return true
        case (.failed, .pending), (.dead, .pending), (.cancelled, .pending):
            return true  // replay
        default:
            return false
        }
    }
}
