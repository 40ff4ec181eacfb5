internal import Synchronization

/// The deliveries a worker's slots hold locked right now, so that each lease can pass over them without
/// trying their row locks (`p_held` of `delivery_lease`, migrations/0031).
///
/// Why: rows in flight are the oldest due rows, the head of the due index, and stepping over a locked row
/// costs the lease lock-manager work; with many slots every lease stepped over the rows of every other slot
/// (docs/benchmarks.md section 4b). Correct with any subset of the truth: a row passed over that is no longer
/// held waits for the next lease, as it would have behind a lock; a held row not passed is stepped over as
/// before. So the set is bounded (``limit``) and may lag the transactions by a moment.
final class LeasedRows: Sendable {
    /// At most this many ids go with a lease: the database compares each row it reads with every id given,
    /// so past a few hundred the comparisons cost what the locks did.
    let limit: Int
    /// Each id with the number of rounds holding it: a round's late ``remove(_:)`` must not drop an id
    /// another slot has leased again meanwhile.
    private let held = Mutex<[Int64: Int]>([:])

    init(limit: Int = 512) { self.limit = limit }

    /// Records rows a slot has just leased; call ``remove(_:)`` with the same ids once its transaction ended.
    func insert(_ ids: [Int64]) {
        guard !ids.isEmpty else { return }
        held.withLock { held in
            for id in ids { held[id, default: 0] += 1 }
        }
    }

    /// Forgets rows whose transaction ended (committed or rolled back).
    func remove(_ ids: [Int64]) {
        guard !ids.isEmpty else { return }
        held.withLock { held in
            for id in ids {
                guard let rounds = held[id] else { continue }
                held[id] = rounds > 1 ? rounds - 1 : nil
            }
        }
    }

    /// The ids to pass with a lease: every held row, or the ``limit`` oldest when more are held. The
    /// smallest ids were enqueued first, so they sit nearest the head of the due index, where a lease would
    /// step over them; a retry falls due later and is stepped over later, if at all.
    func snapshot() -> [Int64] {
        held.withLock { held in
            held.count <= limit ? Array(held.keys) : Array(held.keys.sorted().prefix(limit))
        }
    }

    /// How many rows are held now (tests).
    var count: Int { held.withLock { $0.count } }
}
