import ArgumentParser
import Foundation
import Herald
import Logging
import PGDriver

/// Runs a command body with logging set up, and turns failures into one line on stderr and exit code 1.
///
/// Why: an operator who mistyped a password should read one sentence, not a stack trace; and the
/// sentence never holds the password (``PGError`` redacts it).
enum CommandRunner {
    static func run(_ options: ConnectionOptions, _ body: (Logger) async throws -> Void) async throws {
        LoggingSetup.bootstrap(level: try options.level(), format: options.resolvedLogFormat)
        let logger = Logger(label: "herald")
        do {
            try await body(logger)
        } catch let exit as ExitCode {
            throw exit
        } catch let error as ValidationError {
            throw error
        } catch {
            let (message, code) = describe(error, schema: try? options.resolvedSchema())
            FileHandle.standardError.write(Data("herald: \(message)\n".utf8))
            throw code
        }
    }

    /// The one line and exit code for `error`: 64 for input Herald refuses (whether the command line or
    /// the database noticed), 1 for everything else.
    ///
    /// Why here: every command goes through it, so an unmigrated schema gets the same "run `herald
    /// migrate`" advice from `status` as from `enqueue`, instead of a bare `relation … does not exist`.
    static func describe(_ error: any Error, schema: SchemaName?) -> (String, ExitCode) {
        if let error = error as? HeraldError, error.code == .invalidInput {
            return (oneLine(error), .validationFailure)
        }
        if let error = error as? PGError, error.code == .server, let state = error.sqlState,
            ["42P01", "42883", "3F000"].contains(state) {
            let name = schema.map { "schema \($0.rawValue.debugDescription)" } ?? "Herald's schema"
            return ("\(name) is not migrated or out of date (\(oneLine(error))): run `herald migrate`", .failure)
        }
        return (oneLine(error), .failure)
    }

    /// Like ``run(logLevel:_:)``, with a connection and the validated schema; closes the connection after.
    static func withDatabase(
        _ options: ConnectionOptions, _ body: (PGConnection, SchemaName, Logger) async throws -> Void
    ) async throws {
        try await run(options) { logger in
            let schema = try options.resolvedSchema()
            let connection = try await options.connect(logger: logger)
            do {
                try await body(connection, schema, logger)
                await connection.close()
            } catch {
                await connection.close()
                throw error
            }
        }
    }

    /// A line on stderr that is not an error: the command succeeded, but something deserves attention.
    static func warn(_ message: String) {
        FileHandle.standardError.write(Data("herald: warning: \(message)\n".utf8))
    }

    /// The error as one line: libpq's messages span several.
    static func oneLine(_ error: any Error) -> String {
        "\(error)".split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
            .joined(separator: " ")
    }
}
