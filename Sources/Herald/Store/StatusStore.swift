internal import Foundation
public import PGDriver

/// The one-screen summary of `herald status`.
public struct StatusStore: Sendable {
    public let schema: SchemaName
    /// Up to this many rows in `deliveries` (by the table's statistics), every state is counted exactly;
    /// beyond it only pending deliveries are (through their partial index), and finished states are
    /// estimated from the table's statistics. Default 100,000.
    ///
    /// Why: the audit history keeps finished deliveries for 30 days; counting them exactly is a scan of the
    /// whole table (335 ms at 3 million rows, growing linearly), on every `herald status` and every sample.
    public let exactCountLimit: Int

    public init(schema: SchemaName, exactCountLimit: Int = 100_000) {
        self.schema = schema
        self.exactCountLimit = exactCountLimit
    }

    /// What `herald status` prints.
    public struct Status: Sendable, Codable {
        /// Deliveries per state (every state present, zero included).
        public var states: [String: Int]
        /// The finished states' counts are estimates from the table's statistics (pending is always exact).
        public var statesEstimated: Bool
        /// Age in seconds of the oldest delivery that is due and not yet sent (0 when none): the lag.
        public var lagSeconds: Double
        /// Pending deliveries due now.
        public var due: Int
        /// Deliveries delivered per minute, averaged over the last 5 minutes.
        public var deliveredPerMinute: Double
        /// Attempts per minute over the last 5 minutes.
        public var attemptsPerMinute: Double
        /// Keys of breakers that are open or half-open.
        public var openBreakers: [String]
        /// Workers heard from within 3 of their heartbeat intervals and not stopped (`herald workers`).
        public var liveWorkers: Int
    }

    /// The summary; with `application`, deliveries, lag and rates count only that application's endpoints
    /// (breakers and workers are fleet-wide either way).
    public func status(application: String? = nil, on connection: PGConnection) async throws -> Status {
        // Without an application the statements read the tables alone: no join on the hot path.
        let deliveries = application == nil
            ? "\(schema.qualified("deliveries")) d"
            : "\(schema.qualified("deliveries")) d JOIN \(schema.qualified("endpoints")) e ON e.id = d.endpoint_id AND e.application_id = $1"
        let binds = application.map { [$0.pgBind] } ?? []
        // One application's deliveries are counted exactly (their endpoints' index, not the whole table).
        let (states, estimated) = application == nil
            ? try await stateCounts(on: connection)
            : (try await exactStateCounts(from: deliveries, binds: binds, on: connection), false)
        let row = try await connection.query(
            PGQuery(
                sql: """
                    SELECT coalesce(extract(epoch FROM now() - min(d.next_attempt_at)), 0)::float8 AS lag, count(*)::int AS due
                    FROM \(deliveries) WHERE d.state = 'pending' AND d.next_attempt_at <= now()
                    """, binds: binds))
        let attempts = application == nil
            ? "\(schema.qualified("attempts")) a"
            : "\(schema.qualified("attempts")) a JOIN \(deliveries) ON d.id = a.delivery_id"
        let rates = try await connection.query(
            PGQuery(
                sql: """
                    SELECT (count(*) FILTER (WHERE a.outcome = 'delivered') / 5.0)::float8 AS delivered, (count(*) / 5.0)::float8 AS attempts
                    FROM \(attempts) WHERE a.started_at > now() - interval '5 minutes'
                    """, binds: binds))
        let breakers = try await connection.query(
            PGQuery(sql: "SELECT key FROM \(schema.qualified("circuit_breakers")) WHERE state <> 'closed' ORDER BY key"))
        return Status(
            states: states, statesEstimated: estimated, lagSeconds: try row.first?.decode("lag") ?? 0, due: try row.first?.decode("due") ?? 0,
            deliveredPerMinute: try rates.first?.decode("delivered") ?? 0, attemptsPerMinute: try rates.first?.decode("attempts") ?? 0,
            openBreakers: try breakers.rows.map { try $0.decode("key") },
            liveWorkers: try await WorkerHeartbeatStore(schema: schema).workerCountLive(on: connection))
    }

    /// Deliveries per state: exact while the table is small, else pending exactly and the rest estimated.
    func stateCounts(on connection: PGConnection) async throws -> (states: [String: Int], estimated: Bool) {
        let deliveries = schema.qualified("deliveries")
        var states = Dictionary(uniqueKeysWithValues: DeliveryState.allCases.map { ($0.rawValue, 0) })
        // The table's size as the statistics know it: live tuples (kept current by every write), else reltuples.
        let size = try await connection.query(
            """
            SELECT greatest(coalesce(s.n_live_tup, 0), c.reltuples::bigint)::bigint AS rows
            FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
            WHERE c.oid = \(deliveries)::regclass
            """
        ).first?.decode("rows", as: Int64.self) ?? 0
        if size > Int64(exactCountLimit) {
            // The state column's most common values and their frequencies (ANALYZE; autovacuum keeps them fresh).
            let stats = try await connection.query(
                """
                SELECT v.state, v.freq::float8 AS freq
                FROM pg_stats st, unnest(st.most_common_vals::text::text[], st.most_common_freqs) AS v(state, freq)
                WHERE st.schemaname = \(schema.rawValue) AND st.tablename = 'deliveries' AND st.attname = 'state'
                """
            ).rows.map { (try $0.decode("state", as: String.self), try $0.decode("freq", as: Double.self)) }
            let finished = stats.filter { $0.0 != DeliveryState.pending.rawValue }
            let share = finished.reduce(0) { $0 + $1.1 }
            if share > 0 {
                let pending = try await connection.query(
                    PGQuery(sql: "SELECT count(*)::bigint AS n FROM \(deliveries) WHERE state = 'pending'")
                ).first?.decode("n", as: Int64.self) ?? 0
                let rest = Double(max(0, size - pending))
                for (state, freq) in finished where states[state] != nil { states[state] = Int((rest * freq / share).rounded()) }
                states[DeliveryState.pending.rawValue] = Int(pending)
                return (states, true)
            }
        }
        return (try await exactStateCounts(from: "\(deliveries) d", binds: [], on: connection), false)
    }

    /// Every state's exact count over `from` (the deliveries as `d`, possibly joined), zero included.
    private func exactStateCounts(from: String, binds: [PGBind], on connection: PGConnection) async throws -> [String: Int] {
        var states = Dictionary(uniqueKeysWithValues: DeliveryState.allCases.map { ($0.rawValue, 0) })
        let counts = try await connection.query(PGQuery(sql: "SELECT d.state, count(*)::int AS n FROM \(from) GROUP BY d.state", binds: binds))
        for row in counts.rows { states[try row.decode("state")] = try row.decode("n") }
        return states
    }

    /// Takes, or confirms, this session's lead of the fleet's queue sampling: a session-level advisory lock
    /// per schema, so one worker process samples and the others do not scan for the same numbers. The lock
    /// goes with the session: if the leader dies, another worker leads from its next tick.
    func samplerLeadTry(on connection: PGConnection) async throws -> Bool {
        try await connection.query(
            "SELECT pg_try_advisory_lock(hashtext(\(schema.rawValue + ":sampler")), -1) AS leads"
        ).first?.decode("leads", as: Bool.self) ?? false
    }
}
