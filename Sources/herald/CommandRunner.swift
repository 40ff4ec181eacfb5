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
            FileHandle.standardError.write(Data("herald: \(oneLine(error))\n".utf8))
            throw ExitCode.failure
        }
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

    /// The error as one line: libpq's messages span several.
    static func oneLine(_ error: any Error) -> String {
        "\(error)".split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
            .joined(separator: " ")
    }
}
