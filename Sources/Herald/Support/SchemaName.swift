/// A validated PostgreSQL schema name: Herald's tables, views and functions live in it.
///
/// Identifiers cannot be bound as parameters, so the schema name is the one piece of SQL text built from
/// configuration. It is accepted only if it is a plain lower-case identifier (`[a-z_][a-z0-9_]*`, at most
/// ``maximumLength`` bytes, not a reserved `pg_` name): such a name needs no quoting, cannot close a quote,
/// and means the same thing to Herald and to an operator typing it in `psql`.
public struct SchemaName: Sendable, Hashable, CustomStringConvertible {
    /// The name, safe to splice into SQL.
    public let rawValue: String

    /// The longest name accepted: 54 bytes. Why not PostgreSQL's 63: enqueues notify the channel
    /// `<schema>.enqueued`, and a channel name is an identifier of at most 63 bytes too, so with a longer
    /// schema every enqueue failed ("channel name too long") although the name passed validation.
    public static let maximumLength = 63 - ".enqueued".utf8.count

    /// The default schema, `herald`.
    public static let `default` = SchemaName(unchecked: "herald")

    /// Validates `name`.
    /// - Throws: ``HeraldError/Code/invalidInput`` saying what is allowed.
    public init(_ name: String) throws {
        guard Self.isPlainIdentifier(name) else {
            throw HeraldError.invalid(
                "invalid schema name \(String(name.prefix(70)).debugDescription): use 1-\(Self.maximumLength) characters of a-z, 0-9 "
                    + "and _, starting with a letter or _ (and not pg_…), e.g. --schema herald")
        }
        rawValue = name
    }

    private init(unchecked name: String) { rawValue = name }

    public var description: String { rawValue }

    /// The name double-quoted, for splicing into SQL: a valid name that happens to be a keyword
    /// (`user`) still parses.
    public var quoted: String { "\"\(rawValue)\"" }

    /// `"schema".name`, for splicing a qualified object name into SQL.
    public func qualified(_ name: String) -> String { "\(quoted).\(name)" }

    static func isPlainIdentifier(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= maximumLength else { return false }
        guard first == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) else {
            return false
        }
        guard !name.hasPrefix("pg_") else { return false }
        return bytes.allSatisfy { b in
            b == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b)
        }
    }
}
