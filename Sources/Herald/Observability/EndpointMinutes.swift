internal import Foundation

/// Finished sends per endpoint and minute, counted in memory between two writes to `endpoint_minutes`.
///
/// `endpoint_health` sums these rows (migration 0021) instead of reading the last hour's attempts, whose
/// number grows with the traffic (1 million attempts in an hour: 5 s per read). A pure value: the
/// ``EndpointMinutesRecorder`` holds one behind a lock and hands it to the store.
struct EndpointMinutes: Sendable, Equatable {
    /// Upper edges, in ms, of every duration bucket but the last (open) one: the edges of
    /// `duration_quantile()` in migration 0021. A duration goes in the bucket numbered by how many edges are
    /// at or below it (PostgreSQL's `width_bucket`).
    static let edges: [Int] = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000]
    /// The most (endpoint, minute) rows kept while the database is away; past it the oldest minutes go.
    static let maxRows = 100_000

    struct Key: Hashable, Sendable, Comparable {
        var endpointID: Int64
        /// Start of the minute, in seconds since 1970.
        var minute: Int64

        static func < (a: Key, b: Key) -> Bool { (a.endpointID, a.minute) < (b.endpointID, b.minute) }
    }

    struct Counts: Sendable, Equatable {
        var attempts = 0
        var delivered = 0
        var durations = [Int](repeating: 0, count: EndpointMinutes.edges.count + 1)

        mutating func add(_ other: Counts) {
            attempts += other.attempts
            delivered += other.delivered
            for i in durations.indices { durations[i] += other.durations[i] }
        }
    }

    private(set) var counts: [Key: Counts] = [:]

    var isEmpty: Bool { counts.isEmpty }

    /// The bucket of a duration: the number of edges at or below it.
    static func bucket(milliseconds: Int) -> Int {
        var bucket = 0
        while bucket < edges.count, edges[bucket] <= milliseconds { bucket += 1 }
        return bucket
    }

    /// Counts one finished send of `endpointID` that ended at `at`.
    mutating func record(endpointID: Int64, at: Date, delivered: Bool, durationMilliseconds: Int) {
        let seconds = Int64(at.timeIntervalSince1970.rounded(.down))
        let key = Key(endpointID: endpointID, minute: seconds - ((seconds % 60) + 60) % 60)
        counts[key, default: Counts()].attempts += 1
        if delivered { counts[key]!.delivered += 1 }
        counts[key]!.durations[Self.bucket(milliseconds: max(0, durationMilliseconds))] += 1
    }

    /// Adds `other` (a write that failed, put back), keeping at most ``maxRows`` rows, the newest minutes.
    mutating func merge(_ other: EndpointMinutes) {
        for (key, value) in other.counts { counts[key, default: Counts()].add(value) }
        if counts.count > Self.maxRows {
            let keep = Set(counts.keys.sorted { ($0.minute, $0.endpointID) > ($1.minute, $1.endpointID) }.prefix(Self.maxRows))
            counts = counts.filter { keep.contains($0.key) }
        }
    }

    /// The rows in key order, so that workers adding to the same rows lock them in one order.
    var rows: [(key: Key, counts: Counts)] {
        counts.keys.sorted().map { ($0, counts[$0]!) }
    }
}
