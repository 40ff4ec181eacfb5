/// The rows a statement returned, copied out of libpq's result so it outlives the call.
///
/// Values are kept in PostgreSQL's text format and decoded on access by ``PGRow/decode(_:as:)``: one
/// representation for every type keeps the copy simple and the decoding rules in one place
/// (``PGDecodable``).
public struct PGResult: Sendable {
    /// Column names, in order.
    public let columns: [String]
    /// Column type OIDs, in order.
    public let columnTypes: [UInt32]
    /// The command tag's row count (`UPDATE 3` → 3), or 0 when the command reports none.
    public let affectedRows: Int
    let cells: [String?]

    init(columns: [String], columnTypes: [UInt32], cells: [String?], affectedRows: Int) {
        self.columns = columns
        self.columnTypes = columnTypes
        self.cells = cells
        self.affectedRows = affectedRows
    }

    /// The number of rows.
    public var count: Int { columns.isEmpty ? 0 : cells.count / columns.count }

    /// The rows, in order.
    public var rows: [PGRow] { (0..<count).map { PGRow(result: self, index: $0) } }

    /// The first row, or `nil` when there is none.
    public var first: PGRow? { count > 0 ? PGRow(result: self, index: 0) : nil }

    func columnIndex(_ name: String) -> Int? { columns.firstIndex(of: name) }
}

/// One row of a ``PGResult``.
public struct PGRow: Sendable {
    let result: PGResult
    let index: Int

    /// The raw text of a column, `nil` for SQL NULL.
    public func raw(_ column: Int) -> String? {
        result.cells[index * result.columns.count + column]
    }

    /// Decodes the named column.
    ///
    /// Throws ``PGError/Code/decoding`` when the column is missing, NULL for a non-optional type, or not
    /// in the type's format: a schema mismatch should be loud, never a silent default.
    public func decode<T: PGDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        guard let i = result.columnIndex(column) else {
            throw PGError(.decoding, message: "result has no column \"\(column)\"")
        }
        return try decode(i, as: type, name: column)
    }

    /// Decodes the column at a position.
    public func decode<T: PGDecodable>(_ column: Int, as type: T.Type = T.self) throws -> T {
        try decode(column, as: type, name: result.columns[column])
    }

    private func decode<T: PGDecodable>(_ column: Int, as type: T.Type, name: String) throws -> T {
        do {
            return try T(pgText: raw(column), typeOID: result.columnTypes[column])
        } catch let error as PGError {
            throw PGError(.decoding, message: "column \"\(name)\": \(error.message)")
        }
    }
}
