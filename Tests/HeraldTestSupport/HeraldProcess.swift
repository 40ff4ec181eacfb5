import Foundation

/// A long-running `herald` process (a worker) started by a test, with its output in a file.
///
/// Output goes to a file rather than a pipe so nothing blocks when the test does not read it, and so a
/// test can grep everything the process wrote (for secrets, say) after it ends.
public final class HeraldProcess: @unchecked Sendable {
    public let process: Process
    /// Where stdout and stderr went.
    public let logPath: String

    public init(_ arguments: [String], environment: [String: String] = [:]) throws {
        logPath = FileManager.default.temporaryDirectory.appendingPathComponent("herald-proc-\(UUID().uuidString).log").path
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process = try HeraldBinary.makeProcess(arguments, environment: environment)
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try log.close()
    }

    /// A `herald worker` on `schema` of the test database, with `extra` flags; test receivers live on
    /// 127.0.0.1, so the SSRF guard is off unless `guarded`.
    public static func worker(_ database: TestPostgres, schema: String, _ extra: [String] = [], guarded: Bool = false) throws -> HeraldProcess {
        try HeraldProcess(
            ["worker", "--schema", schema, "--log-level", "debug"] + (guarded ? [] : ["--allow-private-networks"]) + extra,
            environment: ["DATABASE_URL": database.url])
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// Sends `signal` (SIGTERM, SIGKILL, SIGSTOP, SIGCONT …).
    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to end (up to `timeout`) and returns its exit status.
    public func waitForExit(timeout: Duration = .seconds(30)) async throws -> Int32 {
        try await Wait.until("herald process \(pid) to exit", timeout: timeout) { !self.process.isRunning }
        return process.terminationStatus
    }

    /// Everything the process wrote so far.
    public var output: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Kills the process if it still runs (test cleanup).
    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: logPath)
    }
}
