internal import CLibPQ

extension PGConnection {
    /// Runs `query` with results in binary format and returns its first column's raw bytes, row by row
    /// (nil for SQL NULL), e.g. bytea values exactly as stored.
    ///
    /// Why apart from ``query(_:)``: text format sends bytea hex-encoded, twice its size, and ``PGResult``
    /// keeps every cell as a Swift string, so a 1 MB body cost about 2 MB in libpq's result, 2 MB more in
    /// the copy and 1 MB decoded, all alive together. Here each value is copied once, from libpq's result
    /// straight into its array. Only the first column is read: the caller selects the bytes it wants in
    /// the order it wants them.
    public func queryBytes(_ query: PGQuery) async throws -> [[UInt8]?] {
        PGConnection.countRoundTrip()
        return try await run { conn, cancel in
            try self.send(query, on: conn, resultFormat: 1)
            cancel.markSent(self.requestCancel)
            var values: [[UInt8]?]?
            var firstError: (any Error)?
            while let res = PQgetResult(conn) {
                defer { PQclear(res) }
                let status = PQresultStatus(res)
                if status == PGRES_TUPLES_OK || status == PGRES_SINGLE_TUPLE {
                    values = (0..<PQntuples(res)).map { row -> [UInt8]? in
                        guard PQnfields(res) > 0, PQgetisnull(res, row, 0) == 0 else { return nil }
                        let length = Int(PQgetlength(res, row, 0))
                        guard length > 0, let value = PQgetvalue(res, row, 0) else { return [] }
                        return [UInt8](UnsafeRawBufferPointer(start: UnsafeRawPointer(value), count: length))
                    }
                } else {
                    do { _ = try self.read(res, conn: conn, cancel: cancel) } catch {
                        if firstError == nil { firstError = error }
                    }
                }
            }
            if PQstatus(conn) != CONNECTION_OK { throw self.lost(conn, after: firstError) }
            if let firstError { throw firstError }
            guard let values else { throw self.lostOrClientError(conn) }
            return values
        }
    }
}
