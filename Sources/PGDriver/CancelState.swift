internal import Dispatch
internal import Synchronization

/// Whether one operation's task was cancelled, whether its statement reached the server, and whether a
/// cancel request for it is still on its way.
///
/// A cancel request that arrives before the statement does is ignored by the server, so the order
/// matters: if the task is cancelled before sending, the operation does not send at all; if it is
/// cancelled after, a cancel request goes out at once; if cancellation comes while sending, the sender
/// issues the request as soon as the statement is out.
///
/// A cancel request travels on a connection of its own and can arrive late, after its statement ended:
/// it would then cancel whatever the session runs next, such as another task's insert on a shared
/// connection. So an operation ends with ``finish()``: from then on no request is started for it, and
/// one already started is waited for. The server ignores a cancel that reaches an idle session, and it
/// reads the next statement only after the late signal has been taken, so it cannot hit that statement.
final class CancelState: Sendable {
    private struct State {
        var cancelled = false
        var sent = false
        var finished = false
        var requested = false
    }
    private let state = Mutex(State())
    /// Entered when a cancel request starts, left when `PQcancel` returns.
    private let inFlight = DispatchGroup()

    var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Called by the task's cancellation handler; starts a request if the statement is on the server.
    func cancel(_ requestCancel: (CancelState) -> Void) {
        let request = state.withLock { s in
            s.cancelled = true
            return decide(&s)
        }
        if request { requestCancel(self) }
    }

    /// Called once the statement has been sent; starts a request if cancellation came first.
    func markSent(_ requestCancel: (CancelState) -> Void) {
        let request = state.withLock { s in
            s.sent = true
            return decide(&s)
        }
        if request { requestCancel(self) }
    }

    /// Called on the connection's queue when the operation is over, before the next one may run: no request
    /// starts after this, and one in flight is waited for, up to `limit`. Returns false if it is still on
    /// its way then (a server that does not answer cancel requests): the session must not run anything
    /// else, since the request may still arrive.
    func finish(waitingUpTo limit: Duration) -> Bool {
        state.withLock { $0.finished = true }
        let nanoseconds = limit.components.seconds * 1_000_000_000 + limit.components.attoseconds / 1_000_000_000
        return inFlight.wait(timeout: .now() + .nanoseconds(Int(nanoseconds))) == .success
    }

    /// Called by whoever sent the request, when `PQcancel` has returned.
    func requestEnded() { inFlight.leave() }

    /// Under the lock: whether to send a request now. The group is entered here, under the same lock that
    /// finish() takes, so finish() either sees the request in flight or no request starts.
    private func decide(_ s: inout State) -> Bool {
        guard s.sent, s.cancelled, !s.finished, !s.requested else { return false }
        s.requested = true
        inFlight.enter()
        return true
    }
}
