internal import Synchronization

/// Whether one operation's task was cancelled, and whether its statement already reached the server.
///
/// A cancel request that arrives before the statement does is ignored by the server, so the order
/// matters: if the task is cancelled before sending, the operation does not send at all; if it is
/// cancelled after, a cancel request goes out at once; if cancellation comes while sending, the sender
/// issues the request as soon as the statement is out.
final class CancelState: Sendable {
    private struct State {
        var cancelled = false
        var sent = false
    }
    private let state = Mutex(State())

    var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Called by the task's cancellation handler; runs `requestCancel` if the statement is on the server.
    func cancel(_ requestCancel: () -> Void) {
        let sent = state.withLock { s in
            s.cancelled = true
            return s.sent
        }
        if sent { requestCancel() }
    }

    /// Called once the statement has been sent; runs `requestCancel` if cancellation came first.
    func markSent(_ requestCancel: () -> Void) {
        let cancelled = state.withLock { s in
            s.sent = true
            return s.cancelled
        }
        if cancelled { requestCancel() }
    }
}
