/// The poll for slow rounds: due work that no ring announces (a retry or a scheduled delivery falling due)
/// while slow rounds hold every permit and no slot is idle to poll for it. Each tick lets one slow round
/// hand its permit to a spare slot (``Doorbell/pollSlowRounds()``), but only while a spare slot waits for a
/// permit: with none, the round could hand over nothing; it would only wake for nothing and wait again.
struct SlowRoundPoll: Sendable {
    let doorbell: Doorbell
    let permits: SlotPermits
    let interval: Duration

    /// One tick: whether a slow round got the poll.
    @discardableResult
    func tick() async -> Bool {
        guard permits.waiting > 0 else { return false }
        return await doorbell.pollSlowRounds()
    }

    /// Ticks every `interval` until the task is cancelled.
    func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            if Task.isCancelled { return }
            await tick()
        }
    }
}
