import Foundation
import PGDriver
import Synchronization

/// A real PostgreSQL for integration tests.
///
/// `DATABASE_URL`, when set, names the server to use. Otherwise the first test that asks starts a
/// throwaway cluster of its own: `initdb` and `pg_ctl` in a temporary folder, on a free port on
/// 127.0.0.1, run as the `postgres` user when the tests run as root (initdb refuses root). The cluster is
/// stopped and its folder removed when the test process exits.
///
/// If PostgreSQL cannot be found or started, ``shared()`` throws an error that says how to install it: a
/// test that needs a database fails, it never skips.
public final class TestPostgres: Sendable {
    /// The connection string tests use (superuser on the test server).
    public let url: String
    /// True when this process started the server (and may stop or restart it).
    public let ownsServer: Bool
    /// The data folder and binaries of a server this process started.
    public let dataDirectory: String?
    public let binDirectory: String?
    public let port: Int

    init(url: String, ownsServer: Bool, dataDirectory: String?, binDirectory: String?, port: Int) {
        self.url = url
        self.ownsServer = ownsServer
        self.dataDirectory = dataDirectory
        self.binDirectory = binDirectory
        self.port = port
    }

    /// The server for this test process, started on first use.
    public static func shared() async throws -> TestPostgres {
        try await starter.get()
    }

    private static let starter = Starter()

    private actor Starter {
        var result: Result<TestPostgres, any Error>?
        func get() throws -> TestPostgres {
            if let result { return try result.get() }
            let r = Result { try TestPostgres.start() }
            result = r
            return try r.get()
        }
    }

    /// A fresh schema name for one suite, so suites run in parallel without seeing each other's rows.
    public static func uniqueSchema(_ prefix: String = "t") -> String {
        let random = UInt64.random(in: 0..<UInt64.max)
        return "\(prefix)_\(String(random, radix: 36))"
    }

    /// Opens a connection to the test server.
    public func connect() async throws -> PGConnection {
        try await PGConnection.connect(url, applicationName: "herald-tests")
    }

    /// A login role with a password (`pw_user` / `right-Pa55`), for wrong-password tests. The harness's
    /// own server checks passwords for it over TCP; created once, under a lock, as tests run in parallel.
    public func passwordRole() async throws -> (user: String, password: String) {
        let conn = try await connect()
        try await conn.withTransaction { c in
            try await c.query("SELECT pg_advisory_xact_lock(hashtext('herald-tests-pw-role'))")
            try await c.query(
                "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pw_user') THEN CREATE ROLE pw_user LOGIN PASSWORD 'right-Pa55' CREATEDB; END IF; END $$")
        }
        await conn.close()
        return ("pw_user", "right-Pa55")
    }

    /// A cluster of the test's own (even when DATABASE_URL is set), for tests that stop or restart
    /// PostgreSQL; stopped at exit like the shared one.
    public static func startPrivate() throws -> TestPostgres {
        try startCluster()
    }

    private static func start() throws -> TestPostgres {
        if let url = ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty {
            return TestPostgres(url: url, ownsServer: false, dataDirectory: nil, binDirectory: nil, port: 0)
        }
        return try startCluster()
    }

    private static func startCluster() throws -> TestPostgres {
        guard let bin = findBinDirectory() else {
            throw TestSupportError(
                "PostgreSQL server binaries (initdb, pg_ctl) were not found. Install them (Debian/Ubuntu: "
                    + "apt-get install postgresql; macOS: brew install postgresql@15), put their folder on PATH, "
                    + "or set DATABASE_URL to a server the tests may use.")
        }
        removeAbandonedClusters(bin: bin)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("herald-test-pg-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let asRoot = getuid() == 0
        if asRoot { try Shell.run("/bin/chown", ["postgres:", root]) }
        let data = root + "/data"
        let initdb = try Shell.runAs(
            postgresUser: asRoot, bin + "/initdb",
            ["-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"])
        guard initdb.status == 0 else {
            throw TestSupportError("initdb failed (exit \(initdb.status)): \(initdb.output.suffix(800))")
        }
        // Password auth for one role, so wrong-password handling is testable; trust for the rest.
        let hba = """
            local all all trust
            host all pw_user 127.0.0.1/32 scram-sha-256
            host all all 127.0.0.1/32 trust
            host all all ::1/128 trust

            """
        try hba.write(toFile: data + "/pg_hba.conf", atomically: true, encoding: .utf8)
        if asRoot { try Shell.run("/bin/chown", ["postgres:", data + "/pg_hba.conf"]) }
        var lastError = ""
        for _ in 0..<5 {
            let port = try freePort()
            let options = "-p \(port) -k \(root) -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                + "-c full_page_writes=off -c max_connections=1000 -c shared_buffers=128MB"
            let started = try Shell.runAs(
                postgresUser: asRoot, bin + "/pg_ctl", ["-D", data, "-o", options, "-l", root + "/server.log", "-w", "-t", "60", "start"])
            if started.status == 0 {
                stopAtExit(bin: bin, data: data, root: root, asRoot: asRoot)
                return TestPostgres(
                    url: "postgres://postgres@127.0.0.1:\(port)/postgres", ownsServer: true, dataDirectory: data,
                    binDirectory: bin, port: port)
            }
            lastError = started.output + ((try? String(contentsOfFile: root + "/server.log", encoding: .utf8)) ?? "")
        }
        throw TestSupportError("pg_ctl could not start PostgreSQL: \(lastError.suffix(800))")
    }

    /// Restarts the server this process started (`pg_ctl restart -m fast`).
    public func restart() throws {
        guard ownsServer, let bin = binDirectory, let data = dataDirectory else {
            throw TestSupportError("this test restarts PostgreSQL, which needs the harness's own server: unset DATABASE_URL")
        }
        let r = try Shell.runAs(postgresUser: getuid() == 0, bin + "/pg_ctl", ["-D", data, "-w", "-m", "fast", "restart"])
        guard r.status == 0 else { throw TestSupportError("pg_ctl restart failed: \(r.output)") }
    }

    /// Stops the server this process started (`pg_ctl stop -m fast`).
    public func stop() throws {
        guard ownsServer, let bin = binDirectory, let data = dataDirectory else {
            throw TestSupportError("this test stops PostgreSQL, which needs the harness's own server: unset DATABASE_URL")
        }
        _ = try Shell.runAs(postgresUser: getuid() == 0, bin + "/pg_ctl", ["-D", data, "-w", "-m", "fast", "stop"])
    }

    /// Starts the server again after ``stop()``.
    public func startAgain() throws {
        guard ownsServer, let bin = binDirectory, let data = dataDirectory else {
            throw TestSupportError("needs the harness's own server: unset DATABASE_URL")
        }
        let r = try Shell.runAs(postgresUser: getuid() == 0, bin + "/pg_ctl", ["-D", data, "-w", "start"])
        guard r.status == 0 else { throw TestSupportError("pg_ctl start failed: \(r.output)") }
    }

    /// Stops and deletes clusters left by test processes that crashed (atexit never ran for them).
    static func removeAbandonedClusters(bin: String) {
        let tmp = FileManager.default.temporaryDirectory.path
        for name in (try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? [] where name.hasPrefix("herald-test-pg-") {
            let parts = name.split(separator: "-")
            guard parts.count >= 5, let pid = Int32(parts[3]), kill(pid, 0) != 0 else { continue }
            let root = tmp + "/" + name
            _ = try? Shell.runAs(postgresUser: getuid() == 0, bin + "/pg_ctl", ["-D", root + "/data", "-m", "immediate", "stop"])
            try? FileManager.default.removeItem(atPath: root)
        }
    }

    static func findBinDirectory() -> String? {
        let fm = FileManager.default
        if let pgConfigBin = try? Shell.run("/usr/bin/env", ["pg_config", "--bindir"]), pgConfigBin.status == 0 {
            let dir = pgConfigBin.output.trimmingCharacters(in: .whitespacesAndNewlines)
            if fm.isExecutableFile(atPath: dir + "/initdb") { return dir }
        }
        if let versions = try? fm.contentsOfDirectory(atPath: "/usr/lib/postgresql") {
            for v in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) })
            where fm.isExecutableFile(atPath: "/usr/lib/postgresql/\(v)/bin/initdb") {
                return "/usr/lib/postgresql/\(v)/bin"
            }
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        where fm.isExecutableFile(atPath: "\(dir)/initdb") && fm.isExecutableFile(atPath: "\(dir)/pg_ctl") {
            return String(dir)
        }
        return nil
    }

    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard bound else { throw TestSupportError("cannot find a free TCP port on 127.0.0.1") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

/// Stops the harness's server when the test process exits (`atexit` takes no closure context, so the
/// command lives in a global).
private let clusters = Mutex<[(command: [String], root: String)]>([])

private func stopAtExit(bin: String, data: String, root: String, asRoot: Bool) {
    let command = (asRoot ? ["/usr/sbin/runuser", "-u", "postgres", "--"] : []) + [bin + "/pg_ctl", "-D", data, "-m", "immediate", "stop"]
    let first = clusters.withLock { list in
        list.append((command, root))
        return list.count == 1
    }
    guard first else { return }
    atexit {
        for cluster in clusters.withLock({ $0 }) {
            _ = try? Shell.run(cluster.command[0], Array(cluster.command.dropFirst()))
            try? FileManager.default.removeItem(atPath: cluster.root)
        }
    }
}

/// A failure of the test harness itself, with what to do about it.
public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
