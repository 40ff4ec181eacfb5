internal import Logging
internal import PGDriver

/// Holds one `LISTEN` connection and rings the ``Doorbell`` on every enqueue notification.
///
/// Notifications are delivered at the enqueuing transaction's commit, so an idle worker starts within
/// milliseconds instead of at its next poll. Losing the connection only delays work until the poll, and
/// the listener reconnects with backoff (ringing once afterwards, as notifications may have been missed).
struct WakeupListener: Sendable {
    let connectionString: String
    let channel: String
    let doorbell: Doorbell
    let contact: DatabaseContact
    let logger: Logger

    func run() async {
        var backoff = ReconnectBackoff()
        var random = SystemRandomNumberGenerator()
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
                    let notes = try await conn.waitForNotifications(timeout: .seconds(5))
                    contact.record()  // the socket was read and the session is intact
                    if !notes.isEmpty { await doorbell.ring(notes.count) }
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
