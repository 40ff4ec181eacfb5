import ArgumentParser
import Foundation
import Herald
import HeraldConfiguration
import Logging
import PGDriver

/// The options every command that talks to the database shares.
struct ConnectionOptions: ParsableArguments {
    @Option(
        name: .customLong("database-url"),
        help: ArgumentHelp(
            "libpq connection string or postgres:// URI (default: $DATABASE_URL, else PG* variables).",
            valueName: "url"))
    var databaseURL: String?

    @Option(help: ArgumentHelp("Schema holding Herald's tables (default: $HERALD_SCHEMA, else herald).", valueName: "name"))
    var schema: String?

    @Option(help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error, critical (default: $HERALD_LOG_LEVEL, else info).", valueName: "level"))
    var logLevel: String?

    var resolvedLogLevel: String { logLevel ?? ProcessInfo.processInfo.environment["HERALD_LOG_LEVEL"] ?? WorkerSettings.defaultLogLevel }

    @Option(help: ArgumentHelp("Log format: text or json (one object per line; default: $HERALD_LOG_FORMAT, else text).", valueName: "format"))
    var logFormat: String?

    var resolvedLogFormat: String { logFormat ?? ProcessInfo.processInfo.environment["HERALD_LOG_FORMAT"] ?? WorkerSettings.defaultLogFormat }

    func validate() throws {
        try checkConnectionScheme()
        _ = try resolvedSchema()
        _ = try level()
        guard ["text", "json"].contains(resolvedLogFormat) else {
            throw ValidationError("invalid --log-format \(resolvedLogFormat.debugDescription): use text or json")
        }
    }

    /// The parsed `--log-level`.
    func level() throws -> Logger.Level {
        guard let level = Logger.Level(rawValue: resolvedLogLevel) else {
            throw ValidationError("invalid --log-level \(resolvedLogLevel.debugDescription): use trace, debug, info, notice, warning, error or critical")
        }
        return level
    }

    /// The schema, validated before any SQL runs.
    func resolvedSchema() throws -> SchemaName {
        let name = schema ?? ProcessInfo.processInfo.environment["HERALD_SCHEMA"] ?? SchemaName.default.rawValue
        do {
            return try SchemaName(name)
        } catch let error as HeraldError {
            throw ValidationError(error.message)
        }
    }

    /// The connection string: the flag, else `DATABASE_URL`, else empty (libpq then reads PG* and .pgpass).
    var connectionString: String {
        databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"] ?? ""
    }

    /// Refuses a URL of another database (`mysql://…`) by name, before libpq answers with "invalid URI
    /// query parameter" or similar. Only the scheme is quoted: the rest may hold a password.
    func checkConnectionScheme() throws {
        let setting = databaseURL != nil ? "--database-url" : "DATABASE_URL"
        guard let separator = connectionString.range(of: "://") else { return }
        let scheme = connectionString[..<separator.lowerBound]
        guard scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+.-".contains($0)) }), !scheme.isEmpty else { return }
        if !["postgres", "postgresql"].contains(scheme.lowercased()) {
            throw ValidationError(
                "\(setting) is not a PostgreSQL URL (it starts with \(String(scheme.prefix(20)))://): use postgres://user@host/db or a libpq string such as 'host=db dbname=herald'")
        }
    }

    func connect(logger: Logger) async throws -> PGConnection {
        try await PGConnection.connect(connectionString, applicationName: "herald", logger: logger)
    }
}
