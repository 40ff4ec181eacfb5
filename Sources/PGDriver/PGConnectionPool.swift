internal import Foundation

/// A small, bounded set of ``PGConnection``s shared by many tasks, one task per connection at a time.
///
/// Why: an HTTP server answers many requests at once, but a connection runs one statement at a time and
/// PostgreSQL pays a process per connection. The pool opens connections lazily up to `maximum`, lends
/// each to one task inside ``withConnection(_:)``, and makes the others wait in order. A connection that
/// broke (``PGConnection/isClosed``) or that was returned inside a transaction (the task was cancelled
/// mid-statement) is closed instead of being lent again, so one failure never leaks into the next request.
public actor PGConnectionPool {
    /// Opens one connection; called when the pool needs one more.
    public typealias Connector = @Sendable () async throws -> PGConnection

    /// The most connections open at once.
    public let maximum: Int
    private let connect: Connector
    private var idle: [PGConnection] = []
    private var open = 0
    private var waiters: [CheckedContinuation<PGConnection?, Never>] = []
    private var closed = false

    /// - Parameters:
    ///   - maximum: connections open at most (at least 1).
    ///   - connect: opens a connection, e.g. `{ try await PGConnection.connect(url) }`.
    public init(maximum: Int, connect: @escaping Connector) {
        self.maximum = max(1, maximum)
        self.connect = connect
    }

    /// Runs `body` with a connection of its own, then returns the connection to the pool.
    /// - Throws: what `body` throws; ``PGError`` (`connectionFailed`) when no connection can be opened;
    ///   `connectionClosed` once the pool is closed.
    public func withConnection<T: Sendable>(_ body: @Sendable (PGConnection) async throws -> T) async throws -> T {
        let connection = try await lease()
        do {
            let result = try await body(connection)
            await giveBack(connection)
            return result
        } catch {
            await giveBack(connection)
            throw error
        }
    }

    /// Connections open now (lent or idle), for metrics and tests.
    public var openCount: Int { open }

    /// Closes idle connections and refuses new leases; lent connections are closed when given back.
    public func close() async {
        closed = true
        let waiting = waiters
        waiters = []
        for waiter in waiting { waiter.resume(returning: nil) }
        let toClose = idle
        idle = []
        open -= toClose.count
        for connection in toClose { await connection.close() }
    }

    private func lease() async throws -> PGConnection {
        while true {
            guard !closed else { throw PGError(.connectionClosed, message: "the connection pool is closed") }
            if let connection = idle.popLast() {
                if connection.isClosed {
                    open -= 1
                    continue
                }
                return connection
            }
            if open < maximum {
                open += 1
                do {
                    return try await connect()
                } catch {
                    open -= 1
                    wakeOne()
                    throw error
                }
            }
            let handed = await withCheckedContinuation { waiters.append($0) }
            if let handed { return handed }
        }
    }

    private func giveBack(_ connection: PGConnection) async {
        var usable = !connection.isClosed && !closed
        if usable, (try? await connection.transactionStatus()) != .idle { usable = false }
        guard usable else {
            open -= 1
            await connection.close()
            wakeOne()
            return
        }
        if !waiters.isEmpty {
            waiters.removeFirst().resume(returning: connection)
        } else {
            idle.append(connection)
        }
    }

    /// Lets one waiter retry (a slot was freed without a connection to hand over).
    private func wakeOne() {
        if !waiters.isEmpty { waiters.removeFirst().resume(returning: nil) }
    }
}
