internal import Synchronization

/// The right to lease: a worker has `concurrency` of them and `concurrency + spareSlots` slots.
///
/// A round holds its slot's database transaction until its slowest send ends (the lease is the
/// transaction). With a receiver that answers most requests in milliseconds and a few in seconds, most
/// slots spend most of their time waiting for one straggler while the rest of their batch is done: at
/// 946 deliveries/s with 1% of sends taking 800 ms, the default 8 slots finished only about 700/s
/// (docs/benchmarks.md, soak). So a slot gives its permit back as soon as its round is only waiting for
/// stragglers (``StragglerWatch``), and a spare slot, with a connection of its own, takes it and leases;
/// the straggling slot finishes its round and then waits for a permit like any other.
///
/// Slots without a permit hold no lease and send nothing, so every promise that counts leases (the
/// breaker's window, one lease per row, the byte budget) is unchanged; only the worker's connection count
/// grows, to at most `concurrency + spareSlots`, and only while rounds straggle (a spare slot connects on
/// its first permit).
final class SlotPermits: Sendable {
    private struct State {
        var available: Int
        var closed = false
        var waiters: [CheckedContinuation<Bool, Never>] = []
        /// Slow rounds waiting for a slot to wait for a permit (``waitForWaiter()``).
        var watchers: [(id: Int, continuation: CheckedContinuation<Bool, Never>)] = []
        var nextWatcher = 0
    }

    private let state: Mutex<State>

    init(_ count: Int) {
        state = Mutex(State(available: count))
    }

    /// Waits for a permit; false once ``close()`` was called (shutdown): the slot stops.
    func acquire() async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let (granted, watchers): (Bool?, [(id: Int, continuation: CheckedContinuation<Bool, Never>)]) = state.withLock { state in
                if state.closed { return (false, []) }
                if state.available > 0 {
                    state.available -= 1
                    return (true, [])
                }
                state.waiters.append(continuation)
                // A slow round waiting for a slot to hand its permit to may now.
                defer { state.watchers = [] }
                return (nil, state.watchers)
            }
            if let granted { continuation.resume(returning: granted) }
            for watcher in watchers { watcher.continuation.resume(returning: true) }
        }
    }

    /// Takes a free permit if there is one, without waiting.
    func tryAcquire() -> Bool {
        state.withLock { state in
            guard !state.closed, state.available > 0 else { return false }
            state.available -= 1
            return true
        }
    }

    /// Waits until some slot waits for a permit: true (at once if one already does). False on ``close()`` or
    /// when the calling task is cancelled.
    ///
    /// A slow round that found no spare slot to hand its permit to waits here before it tries again: a
    /// ring it gave back stays kept, and the slot that comes to wait for a permit may take it this way.
    func waitForWaiter() async -> Bool {
        let id = state.withLock { state in
            defer { state.nextWatcher += 1 }
            return state.nextWatcher
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let answer: Bool? = state.withLock { state in
                    if state.closed { return false }
                    if !state.waiters.isEmpty { return true }
                    // Cancelled before the handler below could find it: never registered, never left behind.
                    if Task.isCancelled { return false }
                    state.watchers.append((id, continuation))
                    return nil
                }
                if let answer { continuation.resume(returning: answer) }
            }
        } onCancel: {
            let watcher = state.withLock { state in
                state.watchers.firstIndex { $0.id == id }.map { state.watchers.remove(at: $0) }
            }
            watcher?.continuation.resume(returning: false)
        }
    }

    /// Gives a permit back: to the slot waiting longest, if any.
    func release() {
        let waiter: CheckedContinuation<Bool, Never>? = state.withLock { state in
            if state.waiters.isEmpty {
                state.available += 1
                return nil
            }
            return state.waiters.removeFirst()
        }
        waiter?.resume(returning: true)
    }

    /// Gives a permit straight to the slot waiting longest: false, and nothing kept, when no slot waits
    /// (every spare slot is in a round of its own, or there are none).
    func handOver() -> Bool {
        let waiter: CheckedContinuation<Bool, Never>? = state.withLock { state in
            state.waiters.isEmpty ? nil : state.waiters.removeFirst()
        }
        waiter?.resume(returning: true)
        return waiter != nil
    }

    /// Permits free right now (tests).
    var available: Int { state.withLock { $0.available } }

    /// Slots waiting for a permit right now: the poll rings slow rounds only while one does (``SlowRoundPoll``).
    var waiting: Int { state.withLock { $0.waiters.count } }

    /// Slow rounds waiting in ``waitForWaiter()`` right now (tests).
    var watching: Int { state.withLock { $0.watchers.count } }

    /// Ends every wait with false, now and later.
    func close() {
        let (waiters, watchers) = state.withLock { state in
            state.closed = true
            defer {
                state.waiters = []
                state.watchers = []
            }
            return (state.waiters, state.watchers)
        }
        for waiter in waiters { waiter.resume(returning: false) }
        for watcher in watchers { watcher.continuation.resume(returning: false) }
    }
}

/// One slot's permit for one round: given back exactly once, early (stragglers) or when the round ends.
final class HeldPermit: Sendable {
    private let permits: SlotPermits
    private let held = Mutex(true)

    init(_ permits: SlotPermits) { self.permits = permits }

    /// Gives the permit back unless it already was; later calls do nothing.
    func release() {
        let wasHeld = held.withLock { held in
            defer { held = false }
            return held
        }
        if wasHeld { permits.release() }
    }

    /// Gives the permit to a slot waiting for one, if it is still held and a slot waits; true if it did.
    /// With none waiting the round keeps it: a free permit would lease nothing until some slot came for it.
    func handOver() -> Bool {
        held.withLock { held in
            guard held, permits.handOver() else { return false }
            held = false
            return true
        }
    }

    var isHeld: Bool { held.withLock { $0 } }

    /// Whether some slot waits for a permit right now (``SlotPermits/waiting``).
    var spareWaiting: Bool { permits.waiting > 0 }

    /// Waits until some slot waits for a permit (``SlotPermits/waitForWaiter()``).
    func spareWaits() async -> Bool { await permits.waitForWaiter() }
}
