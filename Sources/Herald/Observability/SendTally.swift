internal import Metrics
internal import Foundation
internal import Synchronization

/// The `herald_sends_in_flight` gauge's handler, which also remembers the count and when the last send began.
///
/// Why: the worker heartbeat reports sends in flight and the last send's time, and the Prometheus gauge
/// cannot be read back. Wrapping the gauge's handler means the slots keep calling
/// `metrics.inFlight.increment()` and `decrement()` as before, and both readers see the same number.
final class SendTally: MeterHandler, Sendable {
    private let gauge: any MeterHandler
    private let state = Mutex<(count: Double, lastStart: ContinuousClock.Instant?)>((0, nil))

    init(forwardingTo gauge: any MeterHandler) { self.gauge = gauge }

    /// Sends open now.
    var inFlight: Int { state.withLock { max(0, Int($0.count)) } }

    /// Seconds since a send last began, or nil before the first.
    var secondsSinceLastStart: Double? {
        state.withLock { s in s.lastStart.map { (ContinuousClock.now - $0).seconds } }
    }

    func set(_ value: Int64) { set(Double(value)) }

    func set(_ value: Double) {
        state.withLock { $0.count = value }
        gauge.set(value)
    }

    func increment(by amount: Double) {
        state.withLock {
            $0.count += amount
            $0.lastStart = .now
        }
        gauge.increment(by: amount)
    }

    func decrement(by amount: Double) {
        state.withLock { $0.count -= amount }
        gauge.decrement(by: amount)
    }
}
