internal import Foundation

/// The one error type of PGDriver.
///
/// Why a struct with a `Code`: callers branch on what kind of failure happened (a lost connection is
/// retried, a unique violation is an answer), while `description` stays short and free of secrets. The
/// connection string and its password never appear in it: messages from libpq are passed through
/// ``PGError/redact(_:secrets:)`` before they are stored.
public struct PGError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let raw: String
        /// The connection could not be opened (wrong password, unreachable host, bad connection string).
        public static let connectionFailed = Code(raw: "connectionFailed")
        /// The connection broke while in use (server restart, `pg_terminate_backend`, network loss).
        public static let connectionLost = Code(raw: "connectionLost")
        /// The connection was closed by this process and cannot be used any more.
        public static let connectionClosed = Code(raw: "connectionClosed")
        /// The server answered the statement with an error; ``PGError/sqlState`` says which.
        public static let server = Code(raw: "server")
        /// A value in a result could not be decoded as the requested Swift type.
        public static let decoding = Code(raw: "decoding")
        /// libpq refused to send the statement (a client-side error).
        public static let client = Code(raw: "client")
        public var description: String { raw }
    }

    /// What kind of failure this is.
    public var code: Code
    /// The primary message, already redacted.
    public var message: String
    /// The five-character SQLSTATE for ``Code/server`` errors, e.g. `23505` for a unique violation.
    public var sqlState: String?
    /// The server's DETAIL field, if any (redacted).
    public var detail: String?
    /// The server's HINT field, if any.
    public var hint: String?
    /// The constraint a violation concerns, if the server named one.
    public var constraint: String?

    public init(
        _ code: Code, message: String, sqlState: String? = nil, detail: String? = nil, hint: String? = nil,
        constraint: String? = nil
    ) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.hint = hint
        self.constraint = constraint
    }

    public var description: String {
        switch code {
        case .server:
            return "PostgreSQL error \(sqlState ?? "?????"): \(message)"
        case .connectionFailed:
            return "cannot connect to PostgreSQL: \(message)"
        case .connectionLost:
            return "lost the connection to PostgreSQL: \(message)"
        default:
            return message
        }
    }

    /// True for SQLSTATE 23505 (unique_violation).
    public var isUniqueViolation: Bool { sqlState == "23505" }

    /// True when retrying on a new connection may succeed: the connection broke or the server is
    /// shutting down or starting up.
    public var isConnectionProblem: Bool {
        if code == .connectionLost || code == .connectionFailed { return true }
        guard let state = sqlState else { return false }
        // Class 08: connection exception; 57P01..57P03: admin shutdown, crash shutdown, cannot connect now.
        return state.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(state)
    }

    /// Replaces every occurrence of each secret in `text` with `***`, and trims libpq's trailing newline.
    ///
    /// libpq does not print passwords itself, but a connection string pasted into a host name, a
    /// server-side message echoing a value, or a URI in a message could: redacting every error we keep is
    /// cheaper than proving none can.
    public static func redact(_ text: String, secrets: [String]) -> String {
        var out = text
        for secret in secrets where secret.count >= 1 {
            out = out.replacingOccurrences(of: secret, with: "***")
        }
        // Also hide anything that looks like a password inside a URI or key=value string.
        out = out.replacingOccurrences(
            of: #"(://[^:/@\s]*:)[^@\s]*@"#, with: "$1***@", options: .regularExpression)
        out = out.replacingOccurrences(
            of: #"(?i)(password\s*=\s*)('[^']*'|\S+)"#, with: "$1***", options: .regularExpression)
        return out.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
