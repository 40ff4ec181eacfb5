internal import Logging
internal import PGDriver

/// Holds one `LISTEN` connection and rings the ``Doorbell`` on every enqueue notification.
///
/// Notifications are delivered at the enqueuing transaction's commit, so an idle worker starts within
/// milliseconds instead of at its next poll. Losing the connection only delays work until the poll, and
/// the listener reconnects with backoff (ringing once afterwards, as notifications may have been missed).
/// Rings are at most one per `coalescing` window, plus one trailing ring after the last notification
/// (``WakeupThrottle``); with a window of zero every read of notifications rings one slot per notification.
struct WakeupListener: Sendable {
    let connectionString: String
    let channel: String
    let doorbell: Doorbell
    let contact: DatabaseContact
    let logger: Logger
    var coalescing: Duration = .zero

    func run() async {
        var backoff = ReconnectBackoff()
        var random = SystemRandomNumberGenerator()
        var throttle = WakeupThrottle(window: coalescing)
        let clock = ContinuousClock()
        while !Task.isCancelled {
            do {
                let conn = try await PGConnection.connect(connectionString, applicationName: "herald-listener", logger: logger)
                defer { Task { await conn.close() } }
                try await conn.listen(channel)
                contact.record()
                if backoff.failures > 0 { logger.info("listening for enqueues again", metadata: ["channel": "\(channel)"]) }
                backoff.reset()
                await doorbell.ringAll()
                while !Task.isCancelled {
                    let notes = try await conn.waitForNotifications(timeout: throttle.timeout(at: clock.now, idle: .seconds(5)))
                    contact.record()  // the socket was read and the session is intact
                    guard !notes.isEmpty else {
                        if throttle.takeTrailingRing(at: clock.now) { await doorbell.ring() }
                        continue
                    }
                    // Notifications that arrive while we wait are covered by this ring: it comes after them.
                    let delay = throttle.delay(at: clock.now)
                    if delay > .zero { try await Task.sleep(for: delay) }
                    throttle.rang(at: clock.now)
                    await doorbell.ring(coalescing == .zero ? notes.count : 1)
                }
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                let wait = backoff.next(using: &random)
                let level: Logger.Level = backoff.failures == 1 ? .warning : .debug
                logger.log(level: level, "wake-up listener lost its connection; retrying", metadata: ["error": "\(error)", "retry_in": "\(wait)"])
                try? await Task.sleep(for: wait)
            }
        }
    }
}
