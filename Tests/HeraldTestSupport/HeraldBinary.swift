import Foundation

/// The built `herald` executable, for tests that run real processes.
public enum HeraldBinary {
    /// `HERALD_BIN`, else `herald` beside the test bundle (both live in SwiftPM's build folder).
    public static func path() throws -> String {
        if let env = ProcessInfo.processInfo.environment["HERALD_BIN"], !env.isEmpty { return env }
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = testBinary.deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("herald").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        throw TestSupportError("the herald executable was not found next to the tests: run `swift build` first (make test does), or set HERALD_BIN")
    }

    /// The result of a finished `herald` run.
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `herald` with `arguments` to completion, off the cooperative pool.
    public static func run(
        _ arguments: [String], environment: [String: String] = [:], stdin: Data? = nil
    ) async throws -> Result {
        let process = try makeProcess(arguments, environment: environment)
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do {
                    try process.run()
                    if let stdin {
                        input.fileHandleForWriting.write(stdin)
                        try? input.fileHandleForWriting.close()
                    }
                    // Read both pipes concurrently so neither fills up and blocks the child.
                    let group = DispatchGroup()
                    nonisolated(unsafe) var errData = Data()
                    group.enter()
                    DispatchQueue.global().async {
                        errData = err.fileHandleForReading.readDataToEndOfFile()
                        group.leave()
                    }
                    let outData = out.fileHandleForReading.readDataToEndOfFile()
                    group.wait()
                    process.waitUntilExit()
                    continuation.resume(
                        returning: Result(
                            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                            stderr: String(decoding: errData, as: UTF8.self)))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// A `herald` process, not started; the environment is the test's plus `environment`.
    public static func makeProcess(_ arguments: [String], environment: [String: String] = [:]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try path())
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        return process
    }
}
