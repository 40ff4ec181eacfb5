internal import Synchronization

/// How many bytes of large bodies a worker holds at once, across all its slots (`--max-in-flight-bytes`).
///
/// Why: a lease's rows are sent together, so a worker's memory grows with slots × batch × body size; with
/// bodies allowed up to 100 MiB a count limit alone could ask for tens of GiB. Bodies over the inline limit
/// (``DeliveryStore/inlineBodyBytes``) are fetched only after a slot reserves their size here; what does
/// not fit waits unsent, no attempt spent, for a later round. A body larger than the whole budget still goes
/// when nothing else is reserved, alone, so no delivery can be starved by its size.
final class ByteBudget: Sendable {
    /// The budget in bytes.
    let capacity: Int
    private let reserved = Mutex<Int>(0)

    init(capacity: Int) { self.capacity = capacity }

    /// Reserves `sizes` in order while they fit and returns how many did (the first always fits when nothing
    /// is reserved); release the reserved total with ``release(_:)``.
    func reserve(_ sizes: [Int]) -> (count: Int, bytes: Int) {
        reserved.withLock { held in
            var count = 0
            var bytes = 0
            for size in sizes {
                let fits = held + bytes + size <= capacity || (held == 0 && bytes == 0)
                guard fits else { break }
                count += 1
                bytes += size
            }
            held += bytes
            return (count, bytes)
        }
    }

    /// Gives back bytes of an earlier ``reserve(_:)``.
    func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        reserved.withLock { $0 = max(0, $0 - bytes) }
    }

    /// Bytes reserved now.
    var inUse: Int { reserved.withLock { $0 } }
}
