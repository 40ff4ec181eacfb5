/// Wakes idle worker slots when work may have arrived.
///
/// A slot takes a ``ticket`` before it leases; if the lease comes back empty it waits with that ticket,
/// and returns at once if a ring happened since. So a notification that arrives between the empty lease
/// and the wait is never lost, and a slot never sleeps past its poll interval either way.
///
/// A ring wakes one waiting slot per notification, not all of them: at a few hundred enqueues a second,
/// waking every idle slot for each one made every slot lease (mostly nothing) per enqueue, and those
/// empty leases cost the database more than the deliveries. A slot whose lease came back full rings
/// again, so idle slots join in as long as there is more due work than one slot takes.
actor Doorbell {
    private var rings = 0
    private var closed = false
    /// Waiting slots, oldest first.
    private var waiters: [(id: Int, continuation: CheckedContinuation<Void, Never>)] = []
    private var nextWaiter = 0

    /// The number of rings so far.
    var ticket: Int { rings }

    /// Slots waiting right now.
    var waiting: Int { waiters.count }

    /// Wakes up to `count` waiting slots (the longest waiting first).
    func ring(_ count: Int = 1) {
        rings += 1
        let woken = waiters.prefix(max(0, count))
        waiters.removeFirst(woken.count)
        for waiter in woken { waiter.continuation.resume() }
    }

    /// Wakes every waiting slot: after the listener reconnects (notifications may have been missed).
    func ringAll() {
        ring(waiters.count)
    }

    /// Wakes everyone now and makes every later wait return at once (shutdown).
    func close() {
        closed = true
        ringAll()
    }

    /// Waits for a ring after `ticket` that picks this slot, or `timeout`, or ``close()``.
    func wait(after ticket: Int, upTo timeout: Duration) async {
        guard !closed, rings == ticket else { return }
        let id = nextWaiter
        nextWaiter += 1
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            waiters.append((id, continuation))
            Task { [weak self] in
                try? await Task.sleep(for: timeout)
                await self?.expire(id)
            }
        }
    }

    private func expire(_ id: Int) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: index).continuation.resume()
    }
}
