public import Foundation
internal import Synchronization

/// When the worker last heard from its database, for `/readyz`.
///
/// Why not a query per probe: a `/readyz` polled every second by several orchestrators would open a
/// connection (and a backend process) per request, and a database under load is then probed hardest.
/// Instead the worker's own background connections report each successful exchange here: the wake-up
/// listener (at least every 5 s while idle), the queue sampler (every `--sample-interval`) and the attempt
/// journal (every batch). Slots do not: they are someone else's concern and idle slots talk little.
public final class DatabaseContact: Sendable {
    /// How long a contact counts as recent. Default 15 s: three of the listener's 5 s waits.
    public let window: Duration
    private let now: @Sendable () -> Date
    private let last = Mutex<Date?>(nil)

    public init(window: Duration = .seconds(15), now: @escaping @Sendable () -> Date = { Date() }) {
        self.window = window
        self.now = now
    }

    /// Records a successful exchange with the database.
    public func record() {
        let at = now()
        last.withLock { $0 = at }
    }

    /// Whether the last contact is within ``window``.
    public var isRecent: Bool {
        guard let seconds = secondsSinceLast else { return false }
        return seconds <= Double(window.components.seconds) + Double(window.components.attoseconds) / 1e18
    }

    /// Seconds since the last contact, or nil if there was none.
    public var secondsSinceLast: Double? {
        last.withLock { $0 }.map { now().timeIntervalSince($0) }
    }
}
