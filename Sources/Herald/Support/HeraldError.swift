internal import Foundation

/// The one error type of Herald's core.
///
/// `description` says what is wrong and what to do about it, in one line; it never holds a connection
/// string, a secret or a payload, so it can go to a log or a terminal as is.
public struct HeraldError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let raw: String
        /// A value given by the user (flag, argument, enqueue parameter) is not acceptable.
        public static let invalidInput = Code(raw: "invalidInput")
        /// The database refused or failed an operation Herald needed.
        public static let database = Code(raw: "database")
        /// The migrations on disk and in the database disagree.
        public static let migration = Code(raw: "migration")
        /// Something asked for does not exist.
        public static let notFound = Code(raw: "notFound")
        /// What was asked for clashes with what exists (an endpoint for that URL is already registered).
        public static let conflict = Code(raw: "conflict")
        public var description: String { raw }
    }

    /// What kind of failure this is.
    public var code: Code
    /// One line: what is wrong and what to do.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// Shorthand for an ``Code/invalidInput`` error.
    public static func invalid(_ message: String) -> HeraldError { HeraldError(.invalidInput, message) }
}
