public import Foundation
public import PGDriver

extension DeliveryAdminStore {
    /// What ``prune(olderThan:payloadsOlderThan:batchSize:on:)`` would delete now, for `herald prune
    /// --dry-run` and the confirmation a large prune asks for.
    public struct PrunePreview: Sendable, Hashable, Codable {
        /// Finished deliveries older than the cut-off (their application's retention, else --older-than).
        public var deliveries: Int
        /// Every delivery in the table, pending included.
        public var totalDeliveries: Int
        /// The earliest and latest end among the doomed deliveries.
        public var oldestFinishedAt: Date?
        public var newestFinishedAt: Date?
        /// Circuit-breaker transitions older than the cut-off.
        public var breakerEvents: Int
        /// Messages older than the cut-off that would be left with no delivery.
        public var messages: Int
        /// Payloads `--payloads-older-than` would drop: messages' and directly enqueued deliveries' bodies.
        public var payloads: Int

        /// The share of all deliveries above which a prune on a terminal asks for `--yes`: more than half.
        ///
        /// Why half: a routine prune removes the oldest slice of a table that keeps weeks of history; one
        /// that removes most of it is likely a cut-off typed wrong (`--older-than 90s` for `90d`).
        public var needsConfirmation: Bool { deliveries > 0 && deliveries * 2 > totalDeliveries }

        public init(
            deliveries: Int, totalDeliveries: Int, oldestFinishedAt: Date?, newestFinishedAt: Date?, breakerEvents: Int,
            messages: Int = 0, payloads: Int = 0
        ) {
            self.deliveries = deliveries
            self.totalDeliveries = totalDeliveries
            self.oldestFinishedAt = oldestFinishedAt
            self.newestFinishedAt = newestFinishedAt
            self.breakerEvents = breakerEvents
            self.messages = messages
            self.payloads = payloads
        }
    }

    /// What a prune deleted or emptied.
    public struct PruneCounts: Sendable, Hashable, Codable {
        public var deliveries: Int
        public var breakerEvents: Int
        /// Messages deleted because no delivery of theirs was left.
        public var messages: Int
        /// Messages whose payload was dropped (the message row stays, with `payload_pruned_at`).
        public var messagePayloads: Int
        /// Finished, directly enqueued deliveries whose body was dropped (the row and its attempts stay).
        public var deliveryBodies: Int
    }

    /// Per application, the moment before which its finished deliveries and messages go: its retention,
    /// else `older` (`$1`, seconds). SQL shared by the preview and the prune so both apply one rule.
    private var cutoffs: String {
        """
        SELECT a.id AS application_id,
               now() - coalesce(make_interval(days => a.retention_days), make_interval(secs => $1::float8)) AS before
        FROM \(schema.qualified("applications")) a
        """
    }

    /// Counts what a prune with `olderThan` (and `payloadsOlderThan`) would do, changing nothing.
    public func prunePreview(olderThan: Duration, payloadsOlderThan: Duration? = nil, on connection: PGConnection) async throws -> PrunePreview {
        let query = PGQuery(
            sql: """
                WITH cut AS (\(cutoffs)), dl AS (
                    SELECT d.finished_at, d.message_id, (d.state <> 'pending' AND d.finished_at < c.before) AS doomed
                    FROM \(schema.qualified("deliveries")) d JOIN \(schema.qualified("endpoints")) e ON e.id = d.endpoint_id
                    JOIN cut c ON c.application_id = e.application_id
                )
                SELECT count(*) FILTER (WHERE doomed)::int AS deliveries, count(*)::int AS total,
                       min(finished_at) FILTER (WHERE doomed) AS oldest, max(finished_at) FILTER (WHERE doomed) AS newest,
                       (SELECT count(*) FROM \(schema.qualified("circuit_breaker_events"))
                        WHERE created_at < now() - make_interval(secs => $1::float8))::int AS breaker_events,
                       (SELECT count(*) FROM \(schema.qualified("messages")) m JOIN cut c ON c.application_id = m.application_id
                        WHERE m.created_at < c.before AND NOT EXISTS (SELECT 1 FROM dl x WHERE x.message_id = m.id AND NOT x.doomed))::int AS messages,
                       CASE WHEN $2::float8 IS NULL THEN 0 ELSE
                           (SELECT count(*) FROM \(schema.qualified("messages")) m
                            WHERE m.payload IS NOT NULL AND m.created_at < now() - make_interval(secs => $2::float8)
                              AND NOT EXISTS (SELECT 1 FROM \(schema.qualified("deliveries")) x WHERE x.message_id = m.id AND x.state = 'pending'))
                           + (SELECT count(*) FROM \(schema.qualified("deliveries")) x
                              WHERE x.message_id IS NULL AND x.body IS NOT NULL AND x.state <> 'pending'
                                AND x.finished_at < now() - make_interval(secs => $2::float8))
                       END::int AS payloads
                FROM dl
                """,
            binds: [olderThan.seconds.pgBind, payloadsOlderThan.map { $0.seconds.pgBind } ?? .null])
        let row = try await DatabaseErrors.mapping { try await connection.query(query).first }
        guard let row else { throw HeraldError(.database, "the prune preview returned no row") }
        return PrunePreview(
            deliveries: try row.decode("deliveries"), totalDeliveries: try row.decode("total"),
            oldestFinishedAt: try row.decode("oldest"), newestFinishedAt: try row.decode("newest"),
            breakerEvents: try row.decode("breaker_events"), messages: try row.decode("messages"), payloads: try row.decode("payloads"))
    }

    /// Deletes terminal deliveries (with their attempts and operator events) that ended before their
    /// application's retention (`applications.retention_days`) or, for applications without one, before
    /// `olderThan` ago; circuit-breaker transitions older than `olderThan`; and messages older than their
    /// cut-off left with no delivery. With `payloadsOlderThan`, also drops the payload of messages older
    /// than that whose deliveries have all ended, and the body of directly enqueued deliveries that ended
    /// before then, keeping every row (the audit trail stays; such deliveries cannot be replayed).
    ///
    /// Everything runs in batches of `batchSize`, each its own short transaction that skips rows locked by
    /// anyone; safe while workers run.
    @discardableResult
    public func prune(
        olderThan: Duration, payloadsOlderThan: Duration? = nil, batchSize: Int = 1000, on connection: PGConnection
    ) async throws -> PruneCounts {
        let older = olderThan.seconds
        let deliveries = schema.qualified("deliveries")
        let messages = schema.qualified("messages")
        return try await DatabaseErrors.mapping {
            var counts = PruneCounts(deliveries: 0, breakerEvents: 0, messages: 0, messagePayloads: 0, deliveryBodies: 0)
            counts.deliveries = try await inBatches(batchSize, on: connection) {
                PGQuery(
                    sql: """
                        WITH cut AS (\(cutoffs)), doomed AS (
                            SELECT d.id FROM \(deliveries) d
                            JOIN \(schema.qualified("endpoints")) e ON e.id = d.endpoint_id JOIN cut c ON c.application_id = e.application_id
                            WHERE d.state <> 'pending' AND d.finished_at < c.before
                              -- The earliest cut-off of all: lets the finished_at order and index do the work.
                              AND d.finished_at < (SELECT max(before) FROM cut)
                            ORDER BY d.finished_at LIMIT $2 FOR UPDATE OF d SKIP LOCKED
                        ), attempts_gone AS (
                            -- Attempt rows have no foreign key (migration 0007): they go with their delivery here.
                            DELETE FROM \(schema.qualified("attempts")) a USING doomed WHERE a.delivery_id = doomed.id
                        ), events_gone AS (
                            -- Nor do operator events (migration 0009).
                            DELETE FROM \(schema.qualified("delivery_events")) ev USING doomed WHERE ev.delivery_id = doomed.id
                        )
                        DELETE FROM \(deliveries) d USING doomed WHERE d.id = doomed.id
                        """,
                    binds: [older.pgBind, batchSize.pgBind])
            }
            // The breaker history grows with every trip; without this "prune keeps the tables small" was false.
            counts.breakerEvents = try await inBatches(batchSize, on: connection) {
                """
                DELETE FROM \(unescaped: schema.qualified("circuit_breaker_events"))
                WHERE id IN (SELECT id FROM \(unescaped: schema.qualified("circuit_breaker_events"))
                             WHERE created_at < now() - make_interval(secs => \(older)) ORDER BY id LIMIT \(batchSize))
                """
            }
            // A message is its deliveries' payload: once none is left (pruned above, or it matched no
            // endpoint) and it is past its cut-off, it goes. Younger ones stay: they still deduplicate their event id.
            counts.messages = try await inBatches(batchSize, on: connection) {
                PGQuery(
                    sql: """
                        WITH cut AS (\(cutoffs))
                        DELETE FROM \(messages) WHERE id IN (
                            SELECT m.id FROM \(messages) m JOIN cut c ON c.application_id = m.application_id
                            WHERE m.created_at < c.before AND NOT EXISTS (SELECT 1 FROM \(deliveries) d WHERE d.message_id = m.id)
                            ORDER BY m.id LIMIT $2 FOR UPDATE OF m SKIP LOCKED)
                        """,
                    binds: [older.pgBind, batchSize.pgBind])
            }
            guard let payloadsOlderThan else { return counts }
            let payloadAge = payloadsOlderThan.seconds
            counts.messagePayloads = try await inBatches(batchSize, on: connection) {
                """
                UPDATE \(unescaped: messages) SET payload = NULL, payload_pruned_at = now()
                WHERE id IN (
                    SELECT m.id FROM \(unescaped: messages) m
                    WHERE m.payload IS NOT NULL AND m.created_at < now() - make_interval(secs => \(payloadAge))
                      AND NOT EXISTS (SELECT 1 FROM \(unescaped: deliveries) d WHERE d.message_id = m.id AND d.state = 'pending')
                    ORDER BY m.id LIMIT \(batchSize) FOR UPDATE SKIP LOCKED)
                """
            }
            counts.deliveryBodies = try await inBatches(batchSize, on: connection) {
                """
                UPDATE \(unescaped: deliveries) SET body = NULL, updated_at = now()
                WHERE id IN (
                    SELECT d.id FROM \(unescaped: deliveries) d
                    WHERE d.message_id IS NULL AND d.body IS NOT NULL AND d.state <> 'pending'
                      AND d.finished_at < now() - make_interval(secs => \(payloadAge))
                    ORDER BY d.id LIMIT \(batchSize) FOR UPDATE SKIP LOCKED)
                """
            }
            return counts
        }
    }

    /// Runs `statement` until it changes fewer than `batchSize` rows; returns the total.
    private func inBatches(_ batchSize: Int, on connection: PGConnection, _ statement: () -> PGQuery) async throws -> Int {
        var total = 0
        while true {
            let changed = try await connection.query(statement()).affectedRows
            total += changed
            if changed < batchSize { return total }
        }
    }
}
