import Foundation
import Synchronization

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
    public var isRunning: Bool { exitStatus() == nil }

    private let reaped = Mutex<Int32?>(nil)

    /// The exit status once the process has ended, else nil; never blocks.
    ///
    /// Reaps the child with `waitpid(WNOHANG)` itself rather than trusting `Process.isRunning` and
    /// `waitUntilExit()`: under load Foundation sometimes never notices a SIGKILLed child (a zombie stays),
    /// and `waitUntilExit()` then spins forever on a cooperative thread, stalling every other test.
    public func exitStatus() -> Int32? {
        if let status = reaped.withLock({ $0 }) { return status }
        var raw: Int32 = 0
        let r = waitpid(pid, &raw, WNOHANG)
        if r == pid {
            // WIFEXITED: low 7 bits zero; then WEXITSTATUS; else killed by signal (low 7 bits).
            let status = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
            reaped.withLock { $0 = status }
            return status
        }
        if r < 0, errno == ECHILD, !process.isRunning { return process.terminationStatus }  // Foundation reaped it
        return nil
    }

    /// Sends `signal` (SIGTERM, SIGKILL, SIGSTOP, SIGCONT …).
    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to end (up to `timeout`) and returns its exit status.
    public func waitForExit(timeout: Duration = .seconds(30)) async throws -> Int32 {
        try await Wait.until("herald process \(pid) to exit", timeout: timeout) { self.exitStatus() != nil }
        return exitStatus() ?? -1
    }

    /// Everything the process wrote so far.
    public var output: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Kills the process if it still runs (test cleanup).
    /// Never blocks for long: SIGKILL, then up to 5 s for the child to be reaped.
    public func stop() {
        guard exitStatus() == nil else { return }
        kill(pid, SIGKILL)
        for _ in 0..<500 where exitStatus() == nil { usleep(10_000) }
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: logPath)
    }
}

extension Array where Element == HeraldProcess {
    /// SIGTERMs every process and waits for each to exit; returns their exit statuses in order.
    public func terminateAll() async throws -> [Int32] {
        for p in self { p.signal(SIGTERM) }
        var statuses: [Int32] = []
        for p in self { statuses.append(try await p.waitForExit()) }
        return statuses
    }
}
