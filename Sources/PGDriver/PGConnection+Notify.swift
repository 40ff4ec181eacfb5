internal import CLibPQ
internal import Foundation

extension PGConnection {
    /// Starts listening on `channel`.
    ///
    /// The channel name is quoted as an identifier (LISTEN takes no parameters), so any string is safe.
    public func listen(_ channel: String) async throws {
        try await query(PGQuery(sql: "LISTEN \(PGIdentifier.quote(channel))"))
    }

    /// Stops listening on `channel`.
    public func unlisten(_ channel: String) async throws {
        try await query(PGQuery(sql: "UNLISTEN \(PGIdentifier.quote(channel))"))
    }

    /// Sends a notification; inside a transaction it is delivered when the transaction commits.
    public func notify(_ channel: String, payload: String = "") async throws {
        try await query("SELECT pg_notify(\(channel), \(payload))")
    }

    /// Waits until at least one notification has arrived or `timeout` passes, and returns what arrived
    /// (possibly nothing).
    ///
    /// The wait is a `poll` on libpq's socket on the connection's own queue, so it costs no thread of the
    /// cooperative pool. Cancelling the task ends the wait at once with `CancellationError`.
    public func waitForNotifications(timeout: Duration) async throws -> [PGNotification] {
        let millis = Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        return try await run { conn, cancel in
            // Drain wake-ups left from an earlier cancellation.
            var scratch = [UInt8](repeating: 0, count: 64)
            while Foundation.read(self.wakePipe.read, &scratch, 64) > 0 {}
            var found = try self.drainNotifications(conn)
            guard found.isEmpty else { return found }
            var fds = [
                pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0),
                pollfd(fd: self.wakePipe.read, events: Int16(POLLIN), revents: 0),
            ]
            if cancel.isCancelled { throw CancellationError() }
            let ready = poll(&fds, 2, millis)
            if ready < 0, errno != EINTR {
                throw PGError(.client, message: "poll failed: \(String(cString: strerror(errno)))")
            }
            if cancel.isCancelled { throw CancellationError() }
            found = try self.drainNotifications(conn)
            return found
        }
    }

    /// Returns when the connection breaks (throwing ``PGError/Code/connectionLost``); until then it waits,
    /// costing no thread of the cooperative pool. Cancel the task to stop watching.
    ///
    /// Why: a transaction held open across slow external work (a lease held across HTTP sends) can learn
    /// at once that the server ended it, and abandon the work its locks no longer cover.
    ///
    /// The wait is an entry in ``SocketWatcher``'s one `poll` set, not a thread per connection: a worker
    /// with hundreds of slots watching their leases holds no thread for them.
    public func waitUntilLost() async throws -> Never {
        while true {
            // Reads what arrived (a notice, a notification: discarded) and fails if the session is gone.
            let fd = try await run(cancellable: false) { conn, _ in
                _ = try self.drainNotifications(conn)
                let fd = PQsocket(conn)
                guard fd >= 0 else { throw self.lost(conn) }
                return fd
            }
            try await SocketWatcher.shared.readable(fd)
        }
    }

    /// Reads what the socket has and returns the queued notifications; on `queue` only.
    private func drainNotifications(_ conn: OpaquePointer) throws -> [PGNotification] {
        guard PQconsumeInput(conn) == 1, PQstatus(conn) == CONNECTION_OK else { throw lost(conn) }
        var found: [PGNotification] = []
        while let n = PQnotifies(conn) {
            found.append(
                PGNotification(
                    channel: String(cString: n.pointee.relname), payload: String(cString: n.pointee.extra),
                    senderPID: n.pointee.be_pid))
            PQfreemem(n)
        }
        return found
    }
}
