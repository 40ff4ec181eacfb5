internal import Synchronization

/// Gives a round's permit back (``SlotPermits``) once the round is only waiting for stragglers: at least
/// half of its sends have ended and the rest are still out ``delay`` later.
///
/// A batch whose sends all take long (one slow endpoint) never counts as straggling: they end together,
/// and more slots would only add requests to an endpoint that is already slow (its window bounds them
/// anyway). A round of one send never does either.
///
/// **Slow rounds answer rings no slot can take.** When every slot is in a round with a slow endpoint, a
/// delivery enqueued for a fast one waited for the first of those rounds to end: up to 0.93 s in the
/// head-of-line probe against an endpoint answering after 1 s (docs/flow_control.md). So a round still
/// waiting for sends `slow.delay` after they started takes a ring that no waiting slot took (``Doorbell/takeUnanswered()``)
/// and hands its permit straight to a spare slot waiting for one, which leases at once. Only a ring moves a
/// permit this way: a slow round with no new work queued keeps its permit. With no spare slot free it gives
/// the ring back (kept for the next slot that waits to lease, not passed to another slow round, which could
/// not answer it either) and tries again once a slot waits for a permit. The poll rings slow rounds too
/// (``Doorbell/pollSlowRounds()``), for due work no ring announces, but only while a spare slot waits for a
/// permit; a poll no spare slot answers is dropped, not kept, and one that reaches a round no longer holding
/// its permit goes on to the next slow round while a slot still waits for one. The slow endpoint's own rows gain
/// nothing: its window is what bounds them.
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
        /// Waits `slow.delay`, then for an unanswered ring (cancelled by ``finish()``).
        var slowTask: Task<Void, Never>?
    }

    private enum HandOver { case handed, noPermit, noSpare }

    private let total: Int
    private let delay: Duration
    private let permit: HeldPermit
    private let state = Mutex(State())

    /// `slow`: after how long the round's sends count as slow, and the doorbell whose unanswered rings it
    /// takes then; nil: the round never hands its permit over for a ring (no spare slots).
    init(total: Int, delay: Duration, permit: HeldPermit, slow: (delay: Duration, doorbell: Doorbell)? = nil) {
        self.total = total
        self.delay = delay
        self.permit = permit
        guard let slow else { return }
        let task = Task { [self] in
            try? await Task.sleep(for: slow.delay)
            while !Task.isCancelled {
                let ring = await slow.doorbell.takeUnanswered()
                if ring == .ended { return }
                // Checked under the lock that `finish()` and the straggler timer take: no hand-over after the
                // round, nor of a permit already given back.
                let outcome: HandOver = self.state.withLock { state in
                    if state.finished || !permit.isHeld { return .noPermit }
                    return permit.handOver() ? .handed : .noSpare
                }
                switch (outcome, ring) {
                case (.handed, _):
                    return
                case (.noPermit, .rung):
                    // Another slow round may still hold one.
                    await slow.doorbell.ring()
                    return
                case (.noPermit, _):
                    // The poll's, for a slot waiting for a permit, reached a round whose permit the straggler timer
                    // has just given back, or that has just finished (both cancel this task, but it was still
                    // registered for a moment): pass it to the next slow round while some slot still waits for a
                    // permit, instead of leaving that slot one more poll interval without one. The call checks
                    // its own conditions (``Doorbell/pollSlowRounds()``); with nobody to take it, it is dropped.
                    if permit.spareWaiting { await slow.doorbell.pollSlowRounds() }
                    return
                case (.noSpare, .rung):
                    // Kept for the next slot that waits to lease; this round tries again once a slot waits
                    // for a permit, unless that slot took the ring first.
                    await slow.doorbell.giveBack()
                    guard await permit.spareWaits() else { return }
                case (.noSpare, _):
                    // The poll's, and the spare slot it was for got a permit some other way: nothing to keep
                    // (kept, it would make the next slot lease when no work may be due).
                    continue
                }
            }
        }
        state.withLock { state in
            // `finish()` may already have run.
            if state.finished { task.cancel() } else { state.slowTask = task }
        }
    }

    /// One send ended (sent, failed or held back).
    func sendEnded() {
        state.withLock { state in
            state.ended += 1
            guard !state.finished, state.timer == nil, Rule.arms(ended: state.ended, of: total) else { return }
            state.timer = Task { [self] in
                try? await Task.sleep(for: delay)
                // Checked and released under the lock that `finish()` takes: no release after the round.
                self.state.withLock { state in
                    guard !state.finished else { return }
                    permit.release()
                    // No permit left to hand over for a ring.
                    state.slowTask?.cancel()
                }
            }
        }
    }

    /// The round's sends are over: a timer that has not fired gives nothing back.
    func finish() {
        state.withLock { state in
            state.finished = true
            state.timer?.cancel()
            state.slowTask?.cancel()
        }
    }
}
