internal import CLibPQ
internal import Dispatch
public import Logging
internal import Foundation
internal import Synchronization

/// One PostgreSQL session over libpq.
///
/// Every libpq call of a connection runs on the connection's own serial `DispatchQueue`, never on Swift's
/// cooperative thread pool: libpq's calls block, and a blocked cooperative thread stalls unrelated tasks.
/// The async methods hop onto that queue and resume the caller when libpq returns.
///
/// A connection is used by one task at a time (the queue would serialise concurrent callers anyway, but
/// interleaved statements from two tasks would interleave their transactions). Pool connections with
/// a pool of connections to share them.
///
/// `@unchecked Sendable` because the libpq handle is only touched on `queue` (and in `deinit`, when no
/// operation can be running since each captures `self`), and the cancel handle and lost flag are guarded
/// by a `Mutex`.
public final class PGConnection: @unchecked Sendable {
    /// The libpq handle; only used on `queue`.
    var handle: OpaquePointer?
    /// Serialises every libpq call of this connection off the cooperative pool.
    let queue: DispatchQueue
    /// Values never to print: the password from the connection string and from `PGPASSWORD`.
    let secrets: [String]
    /// Receives NOTICE/WARNING messages from the server; lives as long as the handle.
    let notices: NoticeLogger
    /// Wakes a ``waitForNotifications(timeout:)`` blocked in `poll` when its task is cancelled. The read
    /// end is only used on `queue`; the write end only under `wakeWriter`'s lock, which also closes it.
    let wakePipe: (read: Int32, write: Int32)
    /// The wake pipe's write end while it is open, -1 after: a late wake() must never write to a number
    /// the process has since reused for another file (another connection's socket, say).
    let wakeWriter: Mutex<Int32>
    /// libpq's cancel object while the session is open. Taken out under the lock and used outside it, so a
    /// blocking `PQcancel` never holds the lock (and close() never waits for one).
    let cancelHandle: Mutex<CancelHandle?>
    /// Test hook: milliseconds to wait before each cancel request is sent, to make a late cancel certain.
    let cancelRequestDelay = Atomic<Int>(0)
    /// How long an operation waits, at its end, for a cancel request it started (milliseconds, default
    /// 10 s); past that the connection is retired (``isClosed``). Settable for tests.
    let cancelWaitLimit = Atomic<Int>(10_000)
    /// Named prepared statements of this session, by SQL text and parameter types; only used on `queue`.
    var prepared: [String: String] = [:]
    let lostFlag = Atomic<Bool>(false)
    /// The server process serving this session (`pg_backend_pid()`).
    public let backendPID: Int32
    /// Where this connection's events are logged.
    public let logger: Logger

    init(handle: OpaquePointer, queue: DispatchQueue, secrets: [String], notices: NoticeLogger, logger: Logger) {
        self.handle = handle
        self.queue = queue
        self.secrets = secrets
        self.notices = notices
        self.logger = logger
        self.backendPID = PQbackendPID(handle)
        self.cancelHandle = Mutex(PQgetCancel(handle).map(CancelHandle.init))
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
            _ = fcntl(fds[1], F_SETFL, O_NONBLOCK)
            _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        }
        self.wakePipe = (fds[0], fds[1])
        self.wakeWriter = Mutex(fds[1])
    }

    deinit {
        releaseHandle()
    }

    /// Opens a session.
    ///
    /// - Parameters:
    ///   - connectionString: a libpq connection string (`host=… dbname=…`) or URI (`postgres://…`); an empty
    ///     string means "from the environment". Whatever it leaves out comes from the `PG*` environment
    ///     variables and `~/.pgpass`, exactly as for `psql`, because libpq itself resolves it.
    ///   - applicationName: shown in `pg_stat_activity` unless the connection string or `PGAPPNAME` names one.
    ///   - logger: receives the server's NOTICE and WARNING messages instead of stderr.
    /// - Throws: ``PGError`` with ``PGError/Code/connectionFailed`` and libpq's message, password redacted.
    public static func connect(
        _ connectionString: String, applicationName: String = "pgdriver", logger: Logger = Logger(label: "pgdriver")
    ) async throws -> PGConnection {
        let secrets = Self.secrets(in: connectionString)
        let queue = DispatchQueue(label: "pgdriver.connection")
        let notices = NoticeLogger(logger: logger)
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<PGConnection, any Error>) in
            queue.async {
                continuation.resume(
                    with: Result {
                        try Self.open(
                            connectionString, applicationName: applicationName, secrets: secrets, queue: queue,
                            notices: notices, logger: logger)
                    })
            }
        }
    }

    /// Runs on `queue`: the blocking connect and the session settings that decoding relies on.
    private static func open(
        _ connectionString: String, applicationName: String, secrets: [String], queue: DispatchQueue,
        notices: NoticeLogger, logger: Logger
    ) throws -> PGConnection {
        var keywords = ["fallback_application_name"]
        var values = [applicationName]
        // An unreachable host would otherwise hang for the kernel's TCP timeout (minutes). A timeout in the
        // connection string or PGCONNECT_TIMEOUT still wins: later keywords and the environment override this.
        if ProcessInfo.processInfo.environment["PGCONNECT_TIMEOUT"] == nil {
            keywords.append("connect_timeout")
            values.append("10")
        }
        // A worker cut off from the server (a dead network path, a frozen host) would otherwise wait on its
        // socket for the kernel's defaults: two hours of keepalive silence, or about 15 minutes of
        // retransmissions. See ``tcpDefaults``. The connection string wins: it is expanded after these.
        for (keyword, value) in Self.tcpDefaults {
            keywords.append(keyword)
            values.append(value)
        }
        keywords.append("dbname")
        values.append(connectionString)
        let handle: OpaquePointer? = withCStringArray(keywords) { k in
            withCStringArray(values) { v in PQconnectdbParams(k, v, 1) }
        }
        guard let handle else {
            throw PGError(.connectionFailed, message: "out of memory")
        }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = PGError.redact(String(cString: PQerrorMessage(handle)), secrets: secrets)
            PQfinish(handle)
            throw PGError(.connectionFailed, message: message.isEmpty ? "unknown error" : message)
        }
        PQsetNoticeReceiver(handle, noticeReceiver, Unmanaged.passUnretained(notices).toOpaque())
        _ = PQsetClientEncoding(handle, "UTF8")
        // PGDecodable reads timestamps in ISO/UTC and bytea in hex; pin them whatever the server's defaults.
        let setup = PQexec(handle, "SET DateStyle TO 'ISO, MDY'; SET TimeZone TO 'UTC'; SET bytea_output TO 'hex'")
        let ok = PQresultStatus(setup) == PGRES_COMMAND_OK
        PQclear(setup)
        guard ok else {
            let message = PGError.redact(String(cString: PQerrorMessage(handle)), secrets: secrets)
            PQfinish(handle)
            throw PGError(.connectionFailed, message: "session setup failed: \(message)")
        }
        return PGConnection(handle: handle, queue: queue, secrets: secrets, notices: notices, logger: logger)
    }

    /// TCP settings every session gets unless its connection string names them: keepalive probes after
    /// 5 s of silence, every 2 s, 3 unanswered ones end the connection (a silent peer is noticed within about
    /// 11 s), and data unacknowledged for 15 s ends it too (`tcp_user_timeout`, Linux). libpq ignores them
    /// for Unix-domain sockets.
    public static let tcpDefaults: [(String, String)] = [
        ("keepalives", "1"), ("keepalives_idle", "5"), ("keepalives_interval", "2"), ("keepalives_count", "3"),
        ("tcp_user_timeout", "15000"),
    ]

    /// The value libpq uses for connection option `keyword` (after defaults, environment and connection
    /// string), or nil if unset. Never the password.
    public func option(_ keyword: String) async throws -> String? {
        guard keyword != "password" else { return nil }
        return try await run(cancellable: false) { conn, _ in
            guard let options = PQconninfo(conn) else { return nil }
            defer { PQconninfoFree(options) }
            var p = options
            while let key = p.pointee.keyword {
                if String(cString: key) == keyword { return p.pointee.val.map { String(cString: $0) } }
                p += 1
            }
            return nil
        }
    }

    /// True once the connection is known to be broken (server gone, backend terminated) or closed.
    /// A broken connection is never usable again: open a new one.
    public var isClosed: Bool { lostFlag.load(ordering: .acquiring) }

    /// Closes the session. Safe to call more than once.
    public func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                self.releaseHandle()
                continuation.resume()
            }
        }
    }

    /// Idempotent: the handle being nil marks "already released". Closing the wake pipe twice would close
    /// whatever descriptor the process reused the numbers for, such as another connection's socket.
    private func releaseHandle() {
        lostFlag.store(true, ordering: .releasing)
        guard handle != nil else { return }
        // The cancel object is freed when the last request using it ends (CancelHandle's deinit).
        cancelHandle.withLock { $0 = nil }
        if let h = handle {
            PQfinish(h)
            handle = nil
        }
        wakeWriter.withLock { fd in
            if fd >= 0 { Foundation.close(fd) }
            fd = -1
        }
        if wakePipe.read >= 0 { Foundation.close(wakePipe.read) }
    }

    /// The password in `connectionString` and in `PGPASSWORD`, so that messages can be scrubbed of them.
    static func secrets(in connectionString: String) -> [String] {
        var found: [String] = []
        if let env = ProcessInfo.processInfo.environment["PGPASSWORD"], !env.isEmpty { found.append(env) }
        var errmsg: UnsafeMutablePointer<CChar>?
        if let options = PQconninfoParse(connectionString, &errmsg) {
            var p = options
            while let keyword = p.pointee.keyword {
                if String(cString: keyword) == "password", let value = p.pointee.val {
                    let password = String(cString: value)
                    if !password.isEmpty { found.append(password) }
                }
                p += 1
            }
            PQconninfoFree(options)
        }
        if let errmsg { PQfreemem(errmsg) }
        return found
    }

    /// Asks the server to cancel the statement of the operation `state` belongs to. Off the caller's
    /// thread: `PQcancel` opens a network connection and must not block the cooperative pool. It runs
    /// outside any lock; the operation's ``CancelState/finish()`` waits for it, so it cannot reach the
    /// session's next statement.
    func requestCancel(_ state: CancelState) {
        let delay = cancelRequestDelay.load(ordering: .relaxed)
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(delay)) {
            defer { state.requestEnded() }
            guard let cancel = self.cancelHandle.withLock({ $0 }) else { return }
            var buffer = [CChar](repeating: 0, count: 256)
            _ = PQcancel(cancel.pointer, &buffer, 256)
        }
    }

    /// Interrupts a `poll` in ``waitForNotifications(timeout:)``; does nothing once the connection is closed.
    /// Returns whether a byte was written.
    @discardableResult
    func wake() -> Bool {
        wakeWriter.withLock { fd in
            guard fd >= 0 else { return false }
            var byte: UInt8 = 1
            return Foundation.write(fd, &byte, 1) == 1
        }
    }
}

/// Process-wide count of round trips (see ``PGConnection/roundTrips``).
let roundTripCounter = Atomic<Int>(0)

/// libpq's cancel object, freed when the last user lets go. `@unchecked Sendable`: the pointer never
/// changes, and libpq documents the object as read-only for `PQcancel`, which may run from any thread
/// (several at once included) while the connection itself is used elsewhere.
final class CancelHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { PQfreeCancel(pointer) }
}

/// Calls `body` with a NULL-terminated array of C strings that live for the call.
func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let pointers: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } } + [nil]
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
