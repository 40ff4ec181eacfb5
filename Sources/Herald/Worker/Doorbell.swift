/// Wakes idle worker slots when work may have arrived.
///
/// A ring is a token for one lease: it wakes the slot waiting longest, or, when no slot waits, is kept
/// (up to `capacity`) for the next slot that comes to wait, which then leases at once. So a notification
/// that arrives while every slot is busy is never lost: some slot leases after it.
///
/// One lease per ring, not one per slot: at a few hundred enqueues a second, waking every idle slot for
/// each one made every slot lease (mostly nothing) per enqueue, and those empty leases cost the database
/// more than the deliveries. Likewise a slot whose round leased less than a full batch waits for a ring
/// before it leases again instead of going straight back: it took everything due, and measured at 340
/// enqueues/s (docs/benchmarks.md, section 3b) 58% of leases came back empty that way, each about a
/// millisecond of the database's CPU. A slot whose lease comes back full rings, so idle slots join in as
/// long as there is more due work than one slot takes.
actor Doorbell {
    private var closed = false
    /// Rings no waiting slot took yet.
    private var pending = 0
    /// The most rings kept: one per slot is enough for every slot to lease once more.
    private let capacity: Int
    /// A waiting slot and the timer that ends its wait (cancelled when something else ends it first, so a
    /// long poll interval does not leave a sleeping task behind per wait).
    private struct Waiter {
        var id: Int
        var continuation: CheckedContinuation<Void, Never>
        var timer: Task<Void, Never>

        func resume() {
            timer.cancel()
            continuation.resume()
        }
    }

    /// Waiting slots, oldest first.
    private var waiters: [Waiter] = []
    /// Slots backing off after an error: only ``close()`` or their timeout ends their wait.
    private var pausing: [Waiter] = []
    /// What a slow round waiting in ``takeUnanswered()`` got.
    enum SlowRing: Equatable {
        /// A ring no waiting slot took: new work is queued.
        case rung
        /// The poll's: work may have fallen due (a retry), or not. Unlike a ring, nobody keeps it when no
        /// spare slot is there to lease for it.
        case polled
        /// ``close()``, or the round's wait was cancelled.
        case ended
    }

    /// Slow rounds waiting for a ring no slot is there to take (``takeUnanswered()``), oldest first.
    private var unanswered: [(id: Int, continuation: CheckedContinuation<SlowRing, Never>)] = []
    private var nextWaiter = 0

    init(capacity: Int = 1024) {
        self.capacity = max(1, capacity)
    }

    /// Slots waiting for a ring right now.
    var waiting: Int { waiters.count }

    /// Rings kept for slots that are not waiting yet.
    var kept: Int { pending }

    /// Slots pausing right now.
    var paused: Int { pausing.count }

    /// Wakes up to `count` waiting slots (the longest waiting first); rings beyond them are kept.
    func ring(_ count: Int = 1) {
        wakeOrKeep(count)
        while pending > 0, !unanswered.isEmpty {
            pending -= 1
            unanswered.removeFirst().continuation.resume(returning: .rung)
        }
    }

    /// Gives back a ring a slow round took but could not answer (no spare slot waits): it wakes a waiting
    /// slot or is kept for the next, but does not go to another slow round, which could not answer it either
    /// (one ring would use up every slow round's try). The round tries again once a slot waits for a permit.
    func giveBack() {
        wakeOrKeep(1)
    }

    /// Wakes up to `count` waiting slots, the longest waiting first, and keeps the rest of the rings.
    private func wakeOrKeep(_ count: Int) {
        let woken = waiters.prefix(max(0, count))
        waiters.removeFirst(woken.count)
        pending = min(capacity, pending + max(0, count) - woken.count)
        for waiter in woken { waiter.resume() }
    }

    /// The poll, for due work that no ring announces (a retry or a scheduled delivery falling due): when no
    /// slot waits to lease, none keeps a ring and slow rounds hold every permit, one of them gets the poll
    /// (``SlowRing/polled``). Without it, such work waited for a slow round to end. Its callers
    /// (``SlowRoundPoll/tick()``, and a polled round without its permit passing the poll on in
    /// ``StragglerWatch``) call it only while a spare slot waits for a permit: with none, the round could
    /// hand over nothing. Returns whether it rang.
    @discardableResult
    func pollSlowRounds() -> Bool {
        guard waiters.isEmpty, pending == 0, !unanswered.isEmpty else { return false }
        unanswered.removeFirst().continuation.resume(returning: .polled)
        return true
    }

    /// Wakes every waiting slot and keeps one ring for a busy one: after the listener reconnects
    /// (notifications may have been missed).
    func ringAll() {
        ring(waiters.count + 1)
    }

    /// Wakes everyone now and makes every later wait return at once (shutdown).
    func close() {
        closed = true
        let all = waiters + pausing
        waiters.removeAll()
        pausing.removeAll()
        for waiter in all { waiter.resume() }
        let slow = unanswered
        unanswered.removeAll()
        for round in slow { round.continuation.resume(returning: .ended) }
    }

    /// Waits for a ring that no slot was waiting to take, and takes it (``SlowRing/rung``), or for the
    /// poll (``SlowRing/polled``). ``SlowRing/ended`` on ``close()`` or when the calling task is cancelled
    /// (its round ended first).
    ///
    /// A round that has waited long for its sends (``StragglerWatch``) calls this: a ring kept while every
    /// slot is in a round means new work is queued and nobody is there to lease it, so the round hands its
    /// permit to a spare slot, which leases at once: the ring is answered by that lease, not kept for later.
    func takeUnanswered() async -> SlowRing {
        let id = nextWaiter
        nextWaiter += 1
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<SlowRing, Never>) in
                // Cancelled before the handler below could find it: never registered, so never left behind.
                if closed || Task.isCancelled {
                    continuation.resume(returning: .ended)
                } else if pending > 0 {
                    pending -= 1
                    continuation.resume(returning: .rung)
                } else {
                    unanswered.append((id, continuation))
                }
            }
        } onCancel: {
            Task { await self.dropUnanswered(id) }
        }
    }

    /// Rounds waiting in ``takeUnanswered()`` right now (tests).
    var waitingUnanswered: Int { unanswered.count }

    private func dropUnanswered(_ id: Int) {
        guard let index = unanswered.firstIndex(where: { $0.id == id }) else { return }
        unanswered.remove(at: index).continuation.resume(returning: .ended)
    }

    /// Takes a kept ring at once if there is one; otherwise waits for a ring that picks this slot, or
    /// `timeout`, or ``close()``.
    func wait(upTo timeout: Duration) async {
        guard !closed else { return }
        if pending > 0 {
            pending -= 1
            return
        }
        await suspend(upTo: timeout, pausing: false)
    }

    /// Waits `timeout` or until ``close()``, taking no ring (a slot backing off after an error must not
    /// take the ring another slot should lease for).
    func pause(for timeout: Duration) async {
        guard !closed else { return }
        await suspend(upTo: timeout, pausing: true)
    }

    private func suspend(upTo timeout: Duration, pausing isPause: Bool) async {
        let id = nextWaiter
        nextWaiter += 1
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let timer = Task { [weak self] in
                try? await Task.sleep(for: timeout)
                if !Task.isCancelled { await self?.expire(id) }
            }
            let waiter = Waiter(id: id, continuation: continuation, timer: timer)
            if isPause { pausing.append(waiter) } else { waiters.append(waiter) }
        }
    }

    private func expire(_ id: Int) {
        if let index = waiters.firstIndex(where: { $0.id == id }) {
            waiters.remove(at: index).resume()
        } else if let index = pausing.firstIndex(where: { $0.id == id }) {
            pausing.remove(at: index).resume()
        }
    }
}
