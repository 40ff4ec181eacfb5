/// When the wake-up listener rings the ``Doorbell``: at most once per `window`, and once more `trail` after
/// the last notification.
///
/// **At most once per window.** Under steady load nearly every producer commit notifies (migration 0019 only
/// skips a notification when another is committing at that very moment), and each ring sent one slot to
/// lease what one commit had queued: a round — lease, journal commit, complete commit — per delivery or
/// two, and those rounds took the machine's CPU from the producers (docs/benchmarks.md, section 3b). Rings
/// closer together than `window` are merged into one at the window's end, so the slot it wakes leases
/// everything committed meanwhile. The first notification after a quiet `window` rings at once: at low
/// load wake-ups are as fast as they were, and under load no delivery waits more than `window` longer.
///
/// **Once more after the last.** A producer that committed while another's notification was going out
/// skipped its own (0019), and the slot woken by the other may have leased before that commit was
/// visible. A slot whose round leased less than a full batch waits for a ring (``Doorbell``), so without
/// another notification that delivery would wait for the poll (`--poll-interval`, 1 s). The trailing ring
/// `trail` after the last notification leases it; at worst it finds nothing.
struct WakeupThrottle: Sendable, Equatable {
    let window: Duration
    let trail: Duration
    private(set) var lastRing: ContinuousClock.Instant?
    /// When the trailing ring is due, if a notification rang since the last one.
    private(set) var trailingDue: ContinuousClock.Instant?

    init(window: Duration, trail: Duration = .milliseconds(20)) {
        self.window = window
        self.trail = trail
    }

    /// How long to wait before ringing for notifications read at `now`: zero when the last ring is at least
    /// `window` old (or there was none).
    func delay(at now: ContinuousClock.Instant) -> Duration {
        guard let lastRing, window > .zero else { return .zero }
        let due = lastRing + window
        return due > now ? due - now : .zero
    }

    /// Records a ring for notifications at `instant`; the trailing ring falls due `trail` later.
    mutating func rang(at instant: ContinuousClock.Instant) {
        lastRing = instant
        trailingDue = instant + trail
    }

    /// How long the listener may wait for notifications from `now`: until the trailing ring, else `idle`.
    func timeout(at now: ContinuousClock.Instant, idle: Duration) -> Duration {
        guard let trailingDue else { return idle }
        return trailingDue > now ? min(idle, trailingDue - now) : .zero
    }

    /// True (once) when the trailing ring is due at `now`: the caller rings.
    mutating func takeTrailingRing(at now: ContinuousClock.Instant) -> Bool {
        guard let due = trailingDue, due <= now else { return false }
        trailingDue = nil
        lastRing = now
        return true
    }
}
