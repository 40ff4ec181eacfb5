public import Foundation
public import PGDriver

/// The `worker_heartbeats` table (migrations/0011): each worker's own row, and the fleet as operators see it.
///
/// Why a table rather than `pg_stat_activity`: connections say nothing of slots, sends in flight or the
/// version, and a worker frozen mid-send keeps its connections open; a heartbeat that stops says more.
public struct WorkerHeartbeatStore: Sendable {
    public let schema: SchemaName

    public init(schema: SchemaName) { self.schema = schema }

    /// A worker is silent when its last heartbeat is older than this many of its own heartbeat intervals.
    ///
    /// Why 3: one late beat (a slow query, a database failover, a paused VM) must not flap the state; three
    /// missed in a row means the process is gone, frozen or cut off.
    public static let silentAfterIntervals = 3

    /// What one heartbeat says about its worker.
    public struct Beat: Sendable, Hashable {
        public var workerID: String
        public var host: String
        public var pid: Int
        public var version: String
        public var slots: Int
        public var sendsInFlight: Int
        /// Seconds since the worker last started a send, by its own clock; nil before its first send.
        public var secondsSinceLastSend: Double?
        public var interval: Duration
        /// True on the process's first beat: `started_at` is reset (a restart may reuse a --worker-id).
        public var first: Bool
    }

    /// One worker as `herald workers` lists it.
    public struct Worker: Sendable, Hashable, Codable {
        public var workerID: String
        /// `live`, `silent` (no heartbeat for 3 of its intervals) or `stopped` (shut down gracefully).
        public var state: String
        public var host: String
        public var pid: Int
        public var version: String
        public var slots: Int
        public var sendsInFlight: Int
        public var startedAt: Date
        public var lastSendAt: Date?
        public var lastHeartbeatAt: Date
        public var heartbeatIntervalMs: Int
        /// Seconds since the last heartbeat, by the database's clock.
        public var silentForSeconds: Double
        public var stoppedAt: Date?
    }

    /// Records a heartbeat: one UPSERT, times from the database's clock.
    public func workerBeat(_ beat: Beat, on connection: PGConnection) async throws {
        let table = schema.qualified("worker_heartbeats")
        try await connection.query(
            """
            INSERT INTO \(unescaped: table) AS w
                (worker_id, host, pid, version, slots, sends_in_flight, last_send_at, heartbeat_interval_ms)
            VALUES (\(beat.workerID), \(beat.host), \(beat.pid), \(beat.version), \(beat.slots), \(beat.sendsInFlight),
                    CASE WHEN \(beat.secondsSinceLastSend ?? -1)::float8 < 0 THEN NULL
                         ELSE now() - make_interval(secs => \(beat.secondsSinceLastSend ?? -1)) END,
                    \(Int(beat.interval.seconds * 1000)))
            ON CONFLICT (worker_id) DO UPDATE SET
                host = excluded.host, pid = excluded.pid, version = excluded.version, slots = excluded.slots,
                sends_in_flight = excluded.sends_in_flight, last_send_at = excluded.last_send_at,
                heartbeat_interval_ms = excluded.heartbeat_interval_ms, last_heartbeat_at = now(), stopped_at = NULL,
                started_at = CASE WHEN \(beat.first) THEN now() ELSE w.started_at END
            """)
    }

    /// Marks a worker stopped (graceful shutdown began), so `herald workers` does not call it silent.
    public func workerStop(workerID: String, sendsInFlight: Int, on connection: PGConnection) async throws {
        try await connection.query(
            """
            UPDATE \(unescaped: schema.qualified("worker_heartbeats"))
            SET stopped_at = now(), last_heartbeat_at = now(), sends_in_flight = \(sendsInFlight)
            WHERE worker_id = \(workerID)
            """)
    }

    /// Every worker with a row: live ones first, then silent, then stopped; newest first within each.
    public func workerList(on connection: PGConnection) async throws -> [Worker] {
        let result = try await connection.query(
            """
            SELECT worker_id, host, pid, version, slots, sends_in_flight, started_at, last_send_at, last_heartbeat_at,
                   heartbeat_interval_ms, stopped_at,
                   extract(epoch FROM now() - last_heartbeat_at)::float8 AS silent_for,
                   CASE WHEN stopped_at IS NOT NULL THEN 'stopped'
                        WHEN \(unescaped: liveCondition) THEN 'live' ELSE 'silent' END AS state
            FROM \(unescaped: schema.qualified("worker_heartbeats"))
            ORDER BY CASE WHEN stopped_at IS NOT NULL THEN 2 WHEN \(unescaped: liveCondition) THEN 0 ELSE 1 END,
                     started_at DESC, worker_id
            """)
        return try result.rows.map { row in
            Worker(
                workerID: try row.decode("worker_id"), state: try row.decode("state"), host: try row.decode("host"),
                pid: try row.decode("pid"), version: try row.decode("version"), slots: try row.decode("slots"),
                sendsInFlight: try row.decode("sends_in_flight"), startedAt: try row.decode("started_at"),
                lastSendAt: try row.decode("last_send_at"), lastHeartbeatAt: try row.decode("last_heartbeat_at"),
                heartbeatIntervalMs: try row.decode("heartbeat_interval_ms"), silentForSeconds: try row.decode("silent_for"),
                stoppedAt: try row.decode("stopped_at"))
        }
    }

    /// Workers that are live now (not stopped, heartbeat within 3 of their intervals), for `herald status`.
    public func workerCountLive(on connection: PGConnection) async throws -> Int {
        try await connection.query(
            """
            SELECT count(*)::int AS n FROM \(unescaped: schema.qualified("worker_heartbeats"))
            WHERE stopped_at IS NULL AND \(unescaped: liveCondition)
            """
        ).first?.decode("n") ?? 0
    }

    /// Deletes the rows of workers that have not beaten for `olderThan` (stopped or silent); returns how many.
    ///
    /// Why a cut-off and not "every silent row": a silent worker is what an operator looks for after an
    /// incident; a day later it is history the logs hold.
    @discardableResult
    public func workerPrune(olderThan: Duration, on connection: PGConnection) async throws -> Int {
        try await connection.query(
            """
            DELETE FROM \(unescaped: schema.qualified("worker_heartbeats"))
            WHERE last_heartbeat_at < now() - make_interval(secs => \(olderThan.seconds))
            """
        ).affectedRows
    }

    /// A row's worker is live: its last heartbeat is within ``silentAfterIntervals`` of its own interval.
    /// A constant, not a value: safe to splice.
    private var liveCondition: String {
        "stopped_at IS NULL AND last_heartbeat_at > now() - \(Self.silentAfterIntervals) * heartbeat_interval_ms * interval '1 millisecond'"
    }
}
