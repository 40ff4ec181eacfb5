internal import Synchronization

/// Gives a round's permit back (``SlotPermits``) once the round is only waiting for stragglers: at least
/// half of its sends have ended and the rest are still out ``delay`` later.
///
/// A batch whose sends all take long (one slow endpoint) never counts as straggling: they end together,
/// and more slots would only add requests to an endpoint that is already slow (its window bounds them
/// anyway). A round of one send never does either.
final class StragglerWatch: Sendable {
    /// The pure rule: whether `ended` of `total` sends ended is the point the delay starts from.
    struct Rule: Equatable {
        var delay: Duration

        /// At least half ended, at least one still out.
        static func arms(ended: Int, of total: Int) -> Bool {
            ended < total && ended * 2 >= total && ended > 0
        }
    }

    private let total: Int
    private let delay: Duration
    private let permit: HeldPermit
    private let timer = Mutex<Task<Void, Never>?>(nil)
    private let ended = Mutex(0)

    init(total: Int, delay: Duration, permit: HeldPermit) {
        self.total = total
        self.delay = delay
        self.permit = permit
    }

    /// One send ended (sent, failed or held back).
    func sendEnded() {
        let count = ended.withLock { count in
            count += 1
            return count
        }
        guard Rule.arms(ended: count, of: total), timer.withLock({ $0 == nil }) else { return }
        let permit = self.permit
        let delay = self.delay
        let task = Task {
            try? await Task.sleep(for: delay)
            if !Task.isCancelled { permit.release() }
        }
        timer.withLock { existing in
            if existing == nil { existing = task } else { task.cancel() }
        }
    }

    /// The round's sends are over: the timer, if any, stops.
    func finish() {
        timer.withLock { $0?.cancel() }
    }
}
