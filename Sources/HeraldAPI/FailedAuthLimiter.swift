internal import Foundation
internal import Synchronization

/// Counts failed authentications per client address and refuses an address that failed too often.
///
/// Why: a token is 256 random bits, so guessing is hopeless, but an unthrottled server would still
/// answer (and read the database for) every guess of a scanner. After `limit` failures within `window`,
/// an address is refused with 429 until its oldest failure leaves the window; successes do not count.
/// In memory and per process: several servers behind a load balancer each allow `limit`, which bounds
/// the fleet to a small multiple, and a restart forgets, which is fine for a brake on noise.
struct FailedAuthLimiter: Sendable {
    /// Failures allowed per address within ``window``.
    let limit: Int
    /// How far back failures count.
    let window: Duration
    /// Addresses tracked at most; past it the stalest are forgotten so a flood of spoofed sources cannot
    /// grow memory without bound.
    let maximumAddresses: Int

    /// The failure times of each address, oldest first.
    private(set) var failures: [String: [ContinuousClock.Instant]] = [:]

    init(limit: Int = 10, window: Duration = .seconds(60), maximumAddresses: Int = 10_000) {
        self.limit = limit
        self.window = window
        self.maximumAddresses = maximumAddresses
    }

    /// How long `address` must wait before trying again, or nil when it may try now.
    mutating func retryAfter(_ address: String, now: ContinuousClock.Instant) -> Duration? {
        guard var times = failures[address] else { return nil }
        times.removeAll { now - $0 >= window }
        failures[address] = times.isEmpty ? nil : times
        guard times.count >= limit, let oldest = times.first else { return nil }
        return window - (now - oldest)
    }

    /// Records a failed authentication of `address`.
    mutating func recordFailure(_ address: String, now: ContinuousClock.Instant) {
        if failures[address] == nil, failures.count >= maximumAddresses {
            let stalest = failures.min { ($0.value.last ?? now) < ($1.value.last ?? now) }?.key
            if let stalest { failures[stalest] = nil }
        }
        var times = failures[address, default: []]
        times.append(now)
        if times.count > limit { times.removeFirst(times.count - limit) }
        failures[address] = times
    }
}

/// ``FailedAuthLimiter`` shared by the requests of one server.
final class SharedFailedAuthLimiter: Sendable {
    private let state: Mutex<FailedAuthLimiter>
    private let clock = ContinuousClock()

    init(_ limiter: FailedAuthLimiter = FailedAuthLimiter()) {
        state = Mutex(limiter)
    }

    func retryAfter(_ address: String) -> Duration? {
        let now = clock.now
        return state.withLock { $0.retryAfter(address, now: now) }
    }

    func recordFailure(_ address: String) {
        let now = clock.now
        state.withLock { $0.recordFailure(address, now: now) }
    }
}
