import Foundation

/// A real PgBouncer (Debian's `pgbouncer`) in transaction-pooling mode in front of a test PostgreSQL, on
/// 127.0.0.1: consecutive transactions of one client may run on different server connections, as in a
/// production fleet behind a pooler.
public final class TestPgBouncer: Sendable {
    /// `postgres://postgres@127.0.0.1:PORT/postgres` through the pooler.
    public let url: String
    let directory: String
    let asRoot: Bool

    /// Starts PgBouncer (daemonised, its files in a temporary folder) in front of `database`.
    /// - Throws: when `pgbouncer` is missing (saying how to install it) or does not start.
    public static func start(in database: TestPostgres, poolSize: Int = 40) throws -> TestPgBouncer {
        let binary = "/usr/sbin/pgbouncer"
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw TestSupportError("pgbouncer was not found at \(binary): apt-get install pgbouncer (make test installs it: scripts/install-deps.sh --test)")
        }
        guard let target = URLComponents(string: database.url), let host = target.host, let port = target.port else {
            throw TestSupportError("cannot put PgBouncer in front of \(database.url): it needs a host and port")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("herald-pgbouncer-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let asRoot = getuid() == 0
        var lastError = ""
        for _ in 0..<5 {
            let listen = try TestPostgres.freePort()
            let ini = """
                [databases]
                * = host=\(host) port=\(port)

                [pgbouncer]
                listen_addr = 127.0.0.1
                listen_port = \(listen)
                unix_socket_dir =
                auth_type = trust
                auth_file = \(dir)/userlist.txt
                pool_mode = transaction
                max_client_conn = 2000
                default_pool_size = \(poolSize)
                ignore_startup_parameters = extra_float_digits,options
                logfile = \(dir)/pgbouncer.log
                pidfile = \(dir)/pgbouncer.pid
                server_reset_query =

                """
            try ini.write(toFile: dir + "/pgbouncer.ini", atomically: true, encoding: .utf8)
            try "\"postgres\" \"\"\n".write(toFile: dir + "/userlist.txt", atomically: true, encoding: .utf8)
            if asRoot { try Shell.run("/bin/chown", ["-R", "postgres:", dir]) }
            // PgBouncer refuses to run as root: as the postgres user, like initdb.
            let started = try Shell.runAs(postgresUser: asRoot, binary, ["-d", dir + "/pgbouncer.ini"])
            if started.status == 0 {
                let bouncer = TestPgBouncer(url: "postgres://postgres@127.0.0.1:\(listen)/postgres", directory: dir, asRoot: asRoot)
                if try bouncer.waitUntilListening(port: listen) { return bouncer }
                bouncer.stop()
            }
            lastError = started.output + ((try? String(contentsOfFile: dir + "/pgbouncer.log", encoding: .utf8)) ?? "")
        }
        throw TestSupportError("pgbouncer did not start: \(lastError.suffix(800))")
    }

    init(url: String, directory: String, asRoot: Bool) {
        self.url = url
        self.directory = directory
        self.asRoot = asRoot
    }

    /// Waits (up to 10 s) until the daemon accepts connections on `port`.
    func waitUntilListening(port: Int) throws -> Bool {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            let connected = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            close(fd)
            if connected { return true }
            usleep(20_000)
        }
        return false
    }

    /// What PgBouncer logged (errors such as a refused prepared statement show here).
    public var log: String { (try? String(contentsOfFile: directory + "/pgbouncer.log", encoding: .utf8)) ?? "" }

    /// Stops the daemon (SIGINT: it closes its connections) and removes its folder.
    public func stop() {
        if let text = try? String(contentsOfFile: directory + "/pgbouncer.pid", encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(pid, SIGINT)
            let deadline = Date().addingTimeInterval(5)
            while kill(pid, 0) == 0 && Date() < deadline { usleep(20_000) }
            if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
