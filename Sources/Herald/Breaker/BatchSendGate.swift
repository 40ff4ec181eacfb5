/// Paces one batch's sends per breaker key, so batching never sends a down endpoint more requests than
/// its breaker allows before it trips.
///
/// Why: a slot sends its whole leased batch concurrently, and the breaker learns the results only when
/// the batch commits. Unpaced, 64 leased deliveries to one dead endpoint would be 64 failed requests in a
/// burst; the breaker's promise is `threshold` (5 by default). So per key at most
/// `threshold − consecutive failures` sends are in flight, and every success widens that key's window by
/// one (a slow start: a healthy endpoint gets 5, then 10, then 20 … of the batch at once). When a key's
/// consecutive failures reach the threshold, its sends not yet started are held back, unsent and with no
/// attempt spent. A pure value: the slot feeds it results and starts what it admits.
struct BatchSendGate<Item> {
    private struct Lane {
        var waiting: [Item] = []
        var inFlight = 0
        var trailingFailures: Int
        var successes = 0
        /// The failures seen in this batch reached the threshold: nothing more starts for this key.
        var tripped = false
        let threshold: Int

        /// At least one, so a breaker that the lease saw at or past its threshold (a half-open probe)
        /// still gets its one send.
        var window: Int { max(1, threshold - trailingFailures + successes) }
    }

    private var lanes: [String: Lane] = [:]
    /// Keys in first-seen order, so admission order follows the lease's order.
    private var keys: [String] = []

    /// - Parameter items: each send with its breaker key, that key's threshold and the consecutive
    ///   failures the lease saw on the breaker row.
    init(_ items: [(key: String, threshold: Int, failures: Int, item: Item)]) {
        for entry in items {
            if lanes[entry.key] == nil {
                lanes[entry.key] = Lane(trailingFailures: max(0, entry.failures), threshold: max(1, entry.threshold))
                keys.append(entry.key)
            }
            lanes[entry.key]!.waiting.append(entry.item)
        }
    }

    /// The sends that may start now; each is handed out once.
    mutating func admit() -> [Item] {
        var admitted: [Item] = []
        for key in keys {
            guard var lane = lanes[key], !lane.tripped else { continue }
            let room = lane.window - lane.inFlight
            if room > 0, !lane.waiting.isEmpty {
                let start = lane.waiting.prefix(room)
                admitted.append(contentsOf: start)
                lane.waiting.removeFirst(start.count)
                lane.inFlight += start.count
                lanes[key] = lane
            }
        }
        return admitted
    }

    /// One admitted send of `key` finished. `success`: true for a 2xx, false for a failure that counts
    /// against the breaker, nil for an answer that says nothing about the endpoint being down (a 4xx).
    mutating func finished(key: String, success: Bool?) {
        guard var lane = lanes[key] else { return }
        lane.inFlight -= 1
        switch success {
        case true?:
            lane.successes += 1
            lane.trailingFailures = 0
        case false?:
            lane.trailingFailures += 1
            lane.tripped = lane.trailingFailures >= lane.threshold
        case nil:
            break
        }
        lanes[key] = lane
    }

    /// The sends never started because their key's failures reached its threshold: call once every
    /// admitted send has finished.
    var heldBack: [Item] {
        keys.flatMap { key in lanes[key].map { $0.tripped ? $0.waiting : [] } ?? [] }
    }
}
