internal import CLibPQ
internal import Foundation

extension PGConnection {
    /// Runs one parameterised statement and returns its rows.
    ///
    /// Cancelling the calling task sends a cancel request to the server (`PQcancel`), waits for the
    /// statement to stop, and throws `CancellationError`; the connection stays usable.
    @discardableResult
    public func query(_ query: PGQuery) async throws -> PGResult {
        try Self.refuseNUL(in: [query])
        PGConnection.countRoundTrip()
        return try await run { conn, cancel in
            try self.prepareIfReused([query], on: conn)
            try self.send(query, on: conn)
            cancel.markSent(self.requestCancel)
            do {
                return try self.collect(on: conn, cancel: cancel)
            } catch {
                self.forgetStalePlans(of: [query], after: error)
                throw error
            }
        }
    }

    /// Runs several statements in one network round trip (libpq pipeline mode) and returns one result per
    /// statement.
    ///
    /// Why: `BEGIN` plus the first statement of a transaction, or the last statement plus `COMMIT`, cost
    /// one round trip instead of two. If a statement fails, the ones after it are skipped by the server and
    /// the first error is thrown; an open transaction is then in the failed state and must be rolled back.
    public func pipeline(_ queries: [PGQuery]) async throws -> [PGResult] {
        try Self.refuseNUL(in: queries)
        PGConnection.countRoundTrip()
        return try await run { conn, cancel in
            try self.prepareIfReused(queries, on: conn)
            guard PQenterPipelineMode(conn) == 1 else { throw self.clientError(conn) }
            defer { _ = PQexitPipelineMode(conn) }
            for query in queries { try self.send(query, on: conn) }
            guard PQpipelineSync(conn) == 1 else { throw self.lostOrClientError(conn) }
            cancel.markSent(self.requestCancel)
            var results: [PGResult] = []
            var firstError: (any Error)?
            for _ in queries {
                do {
                    results.append(try self.collect(on: conn, cancel: cancel))
                } catch {
                    if firstError == nil { firstError = error }
                }
            }
            // The sync point's own result ends the pipeline.
            while let res = PQgetResult(conn) {
                let status = PQresultStatus(res)
                PQclear(res)
                if status == PGRES_PIPELINE_SYNC { break }
            }
            if PQstatus(conn) != CONNECTION_OK { throw self.lost(conn, after: firstError) }
            if let firstError {
                self.forgetStalePlans(of: queries, after: firstError)
                throw firstError
            }
            return results
        }
    }

    /// Runs SQL text that may hold several statements, with no parameters (simple query protocol).
    ///
    /// Only for trusted text shipped with the program, such as migration files; anything carrying a value
    /// goes through ``query(_:)``.
    public func execute(script sql: String) async throws {
        PGConnection.countRoundTrip()
        try await run { conn, cancel in
            guard PQsendQuery(conn, sql) == 1 else { throw self.lostOrClientError(conn) }
            cancel.markSent(self.requestCancel)
            var firstError: (any Error)?
            while let res = PQgetResult(conn) {
                defer { PQclear(res) }
                do { _ = try self.read(res, conn: conn, cancel: cancel) } catch {
                    if firstError == nil { firstError = error }
                }
            }
            if PQstatus(conn) != CONNECTION_OK { throw self.lost(conn, after: firstError) }
            if let firstError { throw firstError }
        }
    }

    /// Statements and pipelines sent by every connection of this process: each is one network round trip.
    /// Benchmarks divide it by deliveries to report round trips per delivery.
    public static var roundTrips: Int { roundTripCounter.load(ordering: .relaxed) }

    static func countRoundTrip() { roundTripCounter.add(1, ordering: .relaxed) }

    /// Runs `op` on the connection's queue with the libpq handle; wires task cancellation to it.
    func run<T: Sendable>(
        cancellable: Bool = true, _ op: @escaping @Sendable (OpaquePointer, CancelState) throws -> T
    ) async throws -> T {
        let cancel = CancelState()
        let work = { (continuation: CheckedContinuation<T, any Error>) in
            self.queue.async {
                continuation.resume(
                    with: Result {
                        guard let conn = self.handle, !self.isClosed else {
                            throw PGError(.connectionClosed, message: "the connection is closed or broken")
                        }
                        if cancel.isCancelled { throw CancellationError() }
                        // No cancel request meant for this operation may outlive it (see CancelState); one
                        // that is still out after the limit retires the session instead.
                        defer {
                            let limit = Duration.milliseconds(self.cancelWaitLimit.load(ordering: .relaxed))
                            if !cancel.finish(waitingUpTo: limit) {
                                self.lostFlag.store(true, ordering: .releasing)
                                self.logger.warning("a cancel request got no answer; retiring the connection so it cannot cancel a later statement")
                            }
                        }
                        return try op(conn, cancel)
                    })
            }
        }
        guard cancellable else { return try await withCheckedThrowingContinuation(work) }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation(work)
        } onCancel: {
            cancel.cancel(self.requestCancel)
            self.wake()
        }
    }

    /// Prepares (`PQprepare`, one round trip, once per connection) the statements that ask to reuse their
    /// plan and are not prepared yet. Must run before pipeline mode is entered.
    func prepareIfReused(_ queries: [PGQuery], on conn: OpaquePointer) throws {
        for query in queries where query.reusesPlan {
            let key = Self.statementKey(query)
            guard prepared[key] == nil, prepared.count < 64 else { continue }
            let name = "pgdriver_\(prepared.count + 1)_\(UInt32.random(in: 0...UInt32.max))"
            let types: [Oid] = query.binds.map { Oid($0.typeOID) }
            PGConnection.countRoundTrip()
            guard let res = PQprepare(conn, name, query.sql, Int32(types.count), types) else { throw lostOrClientError(conn) }
            defer { PQclear(res) }
            guard PQresultStatus(res) == PGRES_COMMAND_OK else {
                if PQstatus(conn) != CONNECTION_OK { throw lost(conn) }
                throw serverError(res)
            }
            prepared[key] = name
        }
    }

    /// After `error`: if the server no longer accepts a prepared statement's plan (its tables changed
    /// shape, or the statement is gone), forgets those statements so the next call prepares them afresh.
    func forgetStalePlans(of queries: [PGQuery], after error: any Error) {
        guard let error = error as? PGError, error.sqlState == "0A000" || error.sqlState == "26000" else { return }
        for query in queries where query.reusesPlan { prepared[Self.statementKey(query)] = nil }
    }

    static func statementKey(_ query: PGQuery) -> String {
        query.binds.map { String($0.typeOID) }.joined(separator: ",") + "|" + query.sql
    }

    /// Refuses a text parameter holding a NUL byte before anything is sent.
    ///
    /// Why: libpq takes text parameters as C strings, so it would silently cut such a value at the NUL
    /// (`"a\u{0}b"` stored as `"a"`), and PostgreSQL's text cannot hold NUL anyway. The error carries the
    /// SQLSTATE the server gives the same bytes (22021, invalid byte sequence), so callers treat it as the
    /// invalid input it is.
    static func refuseNUL(in queries: [PGQuery]) throws {
        for query in queries {
            guard let index = query.binds.firstIndex(where: { $0.format == 0 && $0.bytes?.contains(0) == true }) else { continue }
            throw PGError(
                .client, message: "parameter $\(index + 1) holds a NUL character (U+0000), which PostgreSQL text cannot store",
                sqlState: "22021")
        }
    }

    /// Sends one statement with its parameters (`PQsendQueryPrepared` when prepared, else
    /// `PQsendQueryParams`); text results unless `resultFormat` is 1 (binary).
    func send(_ query: PGQuery, on conn: OpaquePointer, resultFormat: Int32 = 0) throws {
        let binds = query.binds
        let copies: [UnsafeMutablePointer<CChar>?] = binds.map { bind in
            guard let bytes = bind.bytes else { return nil }
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
            bytes.withUnsafeBufferPointer { src in
                if let base = src.baseAddress {
                    UnsafeMutableRawPointer(p).copyMemory(from: base, byteCount: bytes.count)
                }
            }
            p[bytes.count] = 0
            return p
        }
        defer { copies.forEach { $0?.deallocate() } }
        let values: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } }
        let types: [Oid] = binds.map { Oid($0.typeOID) }
        let lengths: [Int32] = binds.map { Int32($0.bytes?.count ?? 0) }
        let formats: [Int32] = binds.map { $0.format }
        let sent: Int32
        if query.reusesPlan, let name = prepared[Self.statementKey(query)] {
            sent = PQsendQueryPrepared(conn, name, Int32(binds.count), values, lengths, formats, resultFormat)
        } else {
            sent = PQsendQueryParams(conn, query.sql, Int32(binds.count), types, values, lengths, formats, resultFormat)
        }
        guard sent == 1 else { throw lostOrClientError(conn) }
    }

    /// Reads one statement's results up to libpq's terminating NULL and returns the last data result.
    func collect(on conn: OpaquePointer, cancel: CancelState) throws -> PGResult {
        var result: PGResult?
        var firstError: (any Error)?
        var sawAny = false
        while let res = PQgetResult(conn) {
            sawAny = true
            defer { PQclear(res) }
            if PQresultStatus(res) == PGRES_PIPELINE_SYNC { break }
            do { result = try read(res, conn: conn, cancel: cancel) } catch {
                if firstError == nil { firstError = error }
            }
        }
        // The server's last words before closing (57P01 after pg_terminate_backend) arrive as an error
        // result while libpq still says OK; the broken connection is what matters to the caller.
        if PQstatus(conn) != CONNECTION_OK { throw lost(conn, after: firstError) }
        if let firstError { throw firstError }
        guard sawAny, let result else { throw lostOrClientError(conn) }
        return result
    }

    /// Turns one libpq result into a ``PGResult`` or an error.
    func read(_ res: OpaquePointer, conn: OpaquePointer, cancel: CancelState) throws -> PGResult {
        switch PQresultStatus(res) {
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return PGResult(columns: [], columnTypes: [], cells: [], affectedRows: affected(res))
        case PGRES_TUPLES_OK, PGRES_SINGLE_TUPLE:
            let rows = Int(PQntuples(res))
            let fields = Int(PQnfields(res))
            var columns: [String] = []
            var types: [UInt32] = []
            columns.reserveCapacity(fields)
            for f in 0..<fields {
                columns.append(String(cString: PQfname(res, Int32(f))))
                types.append(UInt32(PQftype(res, Int32(f))))
            }
            var cells: [String?] = []
            cells.reserveCapacity(rows * fields)
            for r in 0..<Int32(rows) {
                for f in 0..<Int32(fields) {
                    if PQgetisnull(res, r, f) == 1 {
                        cells.append(nil)
                    } else {
                        let length = Int(PQgetlength(res, r, f))
                        let raw = UnsafeRawPointer(PQgetvalue(res, r, f)!)
                        cells.append(
                            String(decoding: UnsafeRawBufferPointer(start: raw, count: length), as: UTF8.self))
                    }
                }
            }
            return PGResult(columns: columns, columnTypes: types, cells: cells, affectedRows: affected(res))
        case PGRES_PIPELINE_ABORTED:
            throw PGError(.server, message: "skipped: an earlier statement in the pipeline failed", sqlState: "25P02")
        default:
            if PQstatus(conn) != CONNECTION_OK { throw lost(conn) }
            let error = serverError(res)
            if error.sqlState == "57014", cancel.isCancelled { throw CancellationError() }
            throw error
        }
    }

    private func affected(_ res: OpaquePointer) -> Int {
        Int(String(cString: PQcmdTuples(res))) ?? 0
    }

    func serverError(_ res: OpaquePointer) -> PGError {
        func field(_ code: Int32) -> String? {
            guard let p = PQresultErrorField(res, code) else { return nil }
            return PGError.redact(String(cString: p), secrets: secrets)
        }
        let message = field(CLIBPQ_DIAG_MESSAGE_PRIMARY) ?? PGError.redact(
            String(cString: PQresultErrorMessage(res)), secrets: secrets)
        return PGError(
            .server, message: message, sqlState: field(CLIBPQ_DIAG_SQLSTATE), detail: field(CLIBPQ_DIAG_MESSAGE_DETAIL),
            hint: field(CLIBPQ_DIAG_MESSAGE_HINT), constraint: field(CLIBPQ_DIAG_CONSTRAINT_NAME))
    }

    /// The connection is broken: remember it, so the owner (a pool) throws it away.
    func lost(_ conn: OpaquePointer, after error: (any Error)? = nil) -> PGError {
        lostFlag.store(true, ordering: .releasing)
        if let server = error as? PGError, server.code == .server {
            return PGError(.connectionLost, message: server.message, sqlState: server.sqlState)
        }
        let message = PGError.redact(String(cString: PQerrorMessage(conn)), secrets: secrets)
        return PGError(.connectionLost, message: message.isEmpty ? "server closed the connection" : message)
    }

    func clientError(_ conn: OpaquePointer) -> PGError {
        PGError(.client, message: PGError.redact(String(cString: PQerrorMessage(conn)), secrets: secrets))
    }

    func lostOrClientError(_ conn: OpaquePointer) -> PGError {
        PQstatus(conn) != CONNECTION_OK ? lost(conn) : clientError(conn)
    }
}
