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
    ///
    /// Output goes through temporary files and the child is reaped with `waitpid`: a pipe's write end can
    /// be inherited by a process another test spawns at the same moment (a worker, a PostgreSQL server),
    /// and reading that pipe to its end would then wait for that process, not this one.
    public static func run(
        _ arguments: [String], environment: [String: String] = [:], stdin: Data? = nil
    ) async throws -> Result {
        let executable = try path()
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let environmentList = env.map { "\($0.key)=\($0.value)" }
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Swift.Result {
                    try spawnAndWait(executable, arguments, environment: environmentList, stdin: stdin)
                })
            }
        }
    }

    private static func spawnAndWait(_ executable: String, _ arguments: [String], environment: [String], stdin: Data?) throws -> Result {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("herald-run-\(UUID().uuidString)").path
        let (outPath, errPath, inPath) = (base + ".out", base + ".err", base + ".in")
        defer { for p in [outPath, errPath, inPath] { try? FileManager.default.removeItem(atPath: p) } }
        FileManager.default.createFile(atPath: inPath, contents: stdin ?? Data())
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin == nil ? "/dev/null" : inPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard rc == 0 else { throw TestSupportError("cannot run \(executable): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exitStatus = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        func read(_ path: String) -> String { String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self) }
        return Result(status: exitStatus, stdout: read(outPath), stderr: read(errPath))
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
