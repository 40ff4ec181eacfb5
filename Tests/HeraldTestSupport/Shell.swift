import Foundation

/// Runs short helper commands (initdb, pg_ctl) and collects their output.
///
/// Uses `posix_spawn` and `waitpid` directly rather than `Foundation.Process`: `pg_ctl start` leaves a
/// server running behind it, and Process's pipe- and run-loop-based waiting can hang on such a
/// grandchild. Output goes to a temporary file, which no surviving process can keep "open for writing"
/// in a way that blocks us.
public enum Shell {
    public struct Output: Sendable {
        public var status: Int32
        public var output: String
    }

    @discardableResult
    public static func run(_ executable: String, _ arguments: [String]) throws -> Output {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("herald-shell-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard rc == 0 else { throw TestSupportError("cannot run \(executable): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exited = status & 0x7f == 0
        let data = FileManager.default.contents(atPath: path) ?? Data()
        return Output(status: exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), output: String(decoding: data, as: UTF8.self))
    }

    /// Runs as the `postgres` user via `runuser` when `postgresUser` is true (initdb and pg_ctl refuse root).
    public static func runAs(postgresUser: Bool, _ executable: String, _ arguments: [String]) throws -> Output {
        if postgresUser {
            return try run("/usr/sbin/runuser", ["-u", "postgres", "--", executable] + arguments)
        }
        return try run(executable, arguments)
    }
}
