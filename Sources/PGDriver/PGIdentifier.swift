internal import Foundation

/// SQL identifier quoting.
public enum PGIdentifier {
    /// Quotes `name` as a SQL identifier: wrapped in double quotes, inner quotes doubled, NULs dropped.
    ///
    /// Used only where PostgreSQL accepts no parameter (`LISTEN`, schema names in DDL); values always
    /// travel as parameters instead.
    public static func quote(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\u{0}", with: "").replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
