/// A statement and its bound parameters.
///
/// Values interpolated into a `PGQuery` literal become `$1`, `$2`, … and travel separately from the SQL
/// text, so a value can never change the statement: `"SELECT * FROM t WHERE id = \(id)"` sends
/// `SELECT * FROM t WHERE id = $1` plus `id`. Raw SQL text (an identifier that has already been
/// validated) must be asked for by name with `\(unescaped: …)`, which makes injection impossible by
/// accident, as in postgres-nio.
public struct PGQuery: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    /// The SQL text with `$n` placeholders.
    public private(set) var sql: String
    /// The bound values, in placeholder order.
    public private(set) var binds: [PGBind]
    /// Prepare once per connection and reuse the plan (see ``reusingPlan()``).
    public private(set) var reusesPlan = false

    /// A statement with explicit placeholders and values.
    public init(sql: String, binds: [PGBind] = []) {
        self.sql = sql
        self.binds = binds
    }

    public init(stringLiteral value: String) {
        self.init(sql: value)
    }

    public init(stringInterpolation: StringInterpolation) {
        self.init(sql: stringInterpolation.sql, binds: stringInterpolation.binds)
    }

    /// This statement as a named prepared statement: parsed and planned once per connection, then only
    /// executed. For the few statements a program runs thousands of times a second (a queue's lease and
    /// completion), where planning would cost more than running them. The SQL text must be fixed: every
    /// distinct text becomes one server-side statement for the connection's lifetime (at most 64 per
    /// connection; beyond that, statements run unnamed as usual). Beware of generic plans: a statement
    /// with parameters is eventually planned once for all values, with the table sizes of that moment.
    public func reusingPlan() -> PGQuery {
        var copy = self
        copy.reusesPlan = true
        return copy
    }

    /// The SQL text only: bound values are never printed, they may be secrets or payloads.
    public var description: String { sql }

    /// Builds the SQL text and the bind list as the literal is read.
    public struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var binds: [PGBind] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            binds.reserveCapacity(interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        /// A value: becomes the next `$n`.
        public mutating func appendInterpolation(_ value: some PGEncodable) {
            binds.append(value.pgBind)
            sql += "$\(binds.count)"
        }

        /// An optional value: `nil` binds SQL NULL.
        public mutating func appendInterpolation(_ value: (some PGEncodable)?) {
            binds.append(value?.pgBind ?? .null)
            sql += "$\(binds.count)"
        }

        /// Raw SQL text, spliced as is. Only for identifiers that were validated before.
        public mutating func appendInterpolation(unescaped text: String) {
            sql += text
        }
    }
}
