internal import Synchronization

/// Gives a round's permit back (``SlotPermits``) once the round is only waiting for stragglers: at least
/// half of its sends have ended and the rest are still out ``delay`` later.
///
/// A batch whose sends all take long (one slow endpoint) never counts as straggling: they end together,
/// and more slots would only add requests to an endpoint that is already slow (its window bounds them
/// anyway). A round of one send never does either.
final class StragglerWatch: Sendable {
    /// The pure rule.
    enum Rule {
        /// Whether `ended` of `total` sends ended is the point the delay starts from: at least half ended,
        /// at least one still out.
        static func arms(ended: Int, of total: Int) -> Bool {
            ended < total && ended * 2 >= total && ended > 0
        }
    }

    private struct State {
        var ended = 0
        var timer: Task<Void, Never>?
        /// Set by ``finish()``: a timer that fires later gives nothing back (the slot's next round may
        /// already be running on the same permit).
        var finished = false
    }

    private let total: Int
    private let delay: Duration
    private let permit: HeldPermit
    private let state = Mutex(State())

    init(total: Int, delay: Duration, permit: HeldPermit) {
        self.total = total
        self.delay = delay
        self.permit = permit
    }

    /// One send ended (sent, failed or held back).
    func sendEnded() {
        state.withLock { state in
            state.ended += 1
            guard !state.finished, state.timer == nil, Rule.arms(ended: state.ended, of: total) else { return }
            state.timer = Task { [self] in
                try? await Task.sleep(for: delay)
                // Checked and released under the lock that `finish()` takes: no release after the round.
                self.state.withLock { state in if !state.finished { permit.release() } }
            }
        }
    }

    /// The round's sends are over: a timer that has not fired gives nothing back.
    func finish() {
        state.withLock { state in
            state.finished = true
            state.timer?.cancel()
        }
    }
}
