import Foundation

/// A real `herald serve` on a free port of 127.0.0.1 (`--port 0`; the port is read from its
/// `api listening` log line).
public final class ServeProcess: Sendable {
    public let process: HeraldProcess
    public let port: Int
    public var client: APIClient { APIClient(port: port) }

    /// Starts the server on `schema` and waits (with a deadline) until it listens.
    public init(_ database: TestPostgres, schema: String, _ extra: [String] = [], environment: [String: String] = [:]) async throws {
        let process = try HeraldProcess(
            ["serve", "--schema", schema, "--port", "0", "--log-level", "debug"] + extra,
            environment: environment.merging(["DATABASE_URL": database.url]) { _, url in url })
        var port: Int?
        try await Wait.until("herald serve to listen", timeout: .seconds(60)) {
            if let match = process.output.firstMatch(of: /api listening address=127\.0\.0\.1:(\d+)/) {
                port = Int(match.output.1)
                return true
            }
            if !process.isRunning { throw TestSupportError("herald serve exited: \(process.output)") }
            return false
        }
        self.process = process
        self.port = port!
    }
}
