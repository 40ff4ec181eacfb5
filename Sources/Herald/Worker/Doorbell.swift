/// Wakes idle worker slots when work may have arrived.
///
/// A slot takes a ``ticket`` before it leases; if the lease comes back empty it waits with that ticket,
/// and returns at once if a ring happened since. So a notification that arrives between the empty lease
/// and the wait is never lost, and a slot never sleeps past its poll interval either way.
actor Doorbell {
    private var rings = 0
    private var closed = false
    private var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    private var nextWaiter = 0

    /// The number of rings so far.
    var ticket: Int { rings }

    /// Wakes every waiting slot.
    func ring() {
        rings += 1
        let all = waiters
        waiters.removeAll()
        for continuation in all.values { continuation.resume() }
    }

    /// Wakes everyone now and makes every later wait return at once (shutdown).
    func close() {
        closed = true
        ring()
    }

    /// Waits for a ring after `ticket`, or `timeout`, or ``close()``.
    func wait(after ticket: Int, upTo timeout: Duration) async {
        guard !closed, rings == ticket else { return }
        let id = nextWaiter
        nextWaiter += 1
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            waiters[id] = continuation
            Task { [weak self] in
                try? await Task.sleep(for: timeout)
                await self?.expire(id)
            }
        }
    }

    private func expire(_ id: Int) {
        waiters.removeValue(forKey: id)?.resume()
    }
}
