internal import CLibPQ

extension PGConnection {
    /// Runs `body` inside a transaction: `COMMIT` when it returns, `ROLLBACK` when it throws or the task is
    /// cancelled.
    ///
    /// Why a closure: the transaction cannot outlive the scope, and a forgotten `COMMIT` or a rollback
    /// skipped on an error path is impossible. The rollback itself is not cancellable, so a cancelled task
    /// still leaves the connection idle and reusable.
    public func withTransaction<T: Sendable>(
        _ body: (PGConnection) async throws -> T
    ) async throws -> T {
        try await query("BEGIN")
        return try await finishTransaction(body)
    }

    /// Like ``withTransaction(_:)``, but `BEGIN` travels in the same round trip as `first`, whose result is
    /// handed to `body`.
    public func withTransaction<T: Sendable>(
        startingWith first: PGQuery, _ body: (PGConnection, PGResult) async throws -> T
    ) async throws -> T {
        let results: [PGResult]
        do {
            results = try await pipeline(["BEGIN", first])
        } catch {
            await rollback()
            throw error
        }
        return try await finishTransaction { try await body($0, results[1]) }
    }

    /// Runs `last` and `COMMIT` in one round trip; use as the final step inside a transaction body.
    ///
    /// The transaction is then closed; the enclosing ``withTransaction(_:)`` sees that and does not
    /// commit again.
    @discardableResult
    public func commit(with last: PGQuery) async throws -> PGResult {
        try await commit(with: [last])[0]
    }

    /// Runs `statements` and `COMMIT` in one round trip; returns the statements' results.
    @discardableResult
    public func commit(with statements: [PGQuery]) async throws -> [PGResult] {
        try Task.checkCancellation()
        // A failed statement makes the pipeline skip COMMIT and throw; the enclosing withTransaction then
        // rolls back. It also checks the session is idle afterwards, so that is not repeated here.
        let results = try await pipeline(statements + ["COMMIT"])
        return Array(results.dropLast())
    }

    /// Commits unless the body did, and reports what happened: once a `COMMIT` has succeeded the result is
    /// success, whatever happened to the task meanwhile. Why: a caller told "cancelled" after its work was
    /// committed would redo committed work (send a webhook twice, say).
    private func finishTransaction<T: Sendable>(_ body: (PGConnection) async throws -> T) async throws -> T {
        do {
            let value = try await body(self)
            switch try await transactionStatus() {
            case .idle:
                return value  // the body committed with commit(with:): done, cancelled or not
            case .inError:
                throw PGError(.server, message: "the transaction failed and was rolled back", sqlState: "25P02")
            default:
                try Task.checkCancellation()
                // Not cancellable: cancelling a COMMIT cannot undo it once the server has it, and would
                // only make the outcome unknown.
                try await commitNow()
                return value
            }
        } catch {
            await rollback()
            throw error
        }
    }

    /// `COMMIT`, immune to task cancellation.
    private func commitNow() async throws {
        PGConnection.countRoundTrip()
        try await run(cancellable: false) { conn, cancel in
            try self.send("COMMIT", on: conn)
            _ = try self.collect(on: conn, cancel: cancel)
        }
    }

    /// Rolls back whatever is open; never cancelled, never throws (a broken connection has nothing to roll back).
    public func rollback() async {
        _ = try? await run(cancellable: false) { conn, _ -> Bool in
            guard PQtransactionStatus(conn) != PQTRANS_IDLE else { return true }
            let res = PQexec(conn, "ROLLBACK")
            PQclear(res)
            if PQstatus(conn) != CONNECTION_OK { _ = self.lost(conn) }
            return true
        }
    }

    /// Where the session stands with respect to transactions.
    public enum TransactionStatus: Sendable {
        case idle, active, inTransaction, inError, unknown
    }

    /// The session's transaction status, as libpq last saw it (no round trip).
    public func transactionStatus() async throws -> TransactionStatus {
        try await run(cancellable: false) { conn, _ in
            switch PQtransactionStatus(conn) {
            case PQTRANS_IDLE: return .idle
            case PQTRANS_ACTIVE: return .active
            case PQTRANS_INTRANS: return .inTransaction
            case PQTRANS_INERROR: return .inError
            default: return .unknown
            }
        }
    }
}
