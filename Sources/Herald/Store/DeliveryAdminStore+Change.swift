public import PGDriver

extension DeliveryAdminStore {
    /// What a replay or cancel did to each delivery asked for.
    ///
    /// Why: `replay 999999` used to print "replayed 0" and exit 0, and ids in a state the action does not
    /// apply to were skipped without a word. An operator needs to know which ids did nothing and why.
    public struct ChangeReport: Sendable, Hashable, Codable {
        /// A delivery that was asked for and left alone.
        public struct Skipped: Sendable, Hashable, Codable {
            public var id: Int64
            /// Its state when asked.
            public var state: String
            /// Why it was left alone, e.g. "still pending: nothing to replay".
            public var reason: String
        }

        /// The deliveries changed, in id order.
        public var changed: [Int64]
        /// Ids given that name no delivery.
        public var notFound: [Int64]
        /// Ids given that name a delivery the action did not change.
        public var skipped: [Skipped]
    }

    /// The states a replay takes back to pending (from ``DeliveryState/canTransition(to:)``, the one rule).
    public static let replayableStates = DeliveryState.allCases.filter { $0.isTerminal && $0.canTransition(to: .pending) }
    /// The states a cancel ends.
    public static let cancellableStates = DeliveryState.allCases.filter { $0.canTransition(to: .cancelled) }

    /// Puts failed, dead or cancelled deliveries back to `pending` with a fresh attempt budget; the body,
    /// the idempotency key and the attempt rows are untouched, and the replay is recorded in
    /// `delivery_events` with how the delivery had ended (the audit timeline keeps that end). Wakes idle
    /// workers. A delivery whose payload `herald prune --payloads-older-than` dropped is skipped: there is
    /// nothing left to send.
    public func replay(ids: [Int64]?, filter: Filter, on connection: PGConnection) async throws -> ChangeReport {
        let report = try await change(
            ids: ids, filter: filter, from: Self.replayableStates, event: "replayed", on: connection,
            set: "state = 'pending', attempts = 0, interrupted_sends = 0, next_attempt_at = now(), finished_at = NULL, updated_at = now(), replayed_at = clock_timestamp()",
            requirePayload: true, requireLiveEndpoint: true
        ) { state, applies, filtered in
            if applies { return filtered ? "does not match the filters given" : "changed by someone else meanwhile; try again" }
            return state == "pending" ? "still pending: nothing to replay" : "\(state): only failed, dead or cancelled deliveries are replayed"
        }
        if !report.changed.isEmpty { try await connection.notify(DeliveryStore(schema: schema).wakeupChannel) }
        return report
    }

    /// Cancels pending deliveries; ones leased by a worker right now are skipped (their send is in
    /// flight). Each cancel is recorded in `delivery_events`.
    public func cancel(ids: [Int64]?, filter: Filter, on connection: PGConnection) async throws -> ChangeReport {
        try await change(
            ids: ids, filter: filter, from: Self.cancellableStates, event: "cancelled", on: connection,
            set: "state = 'cancelled', finished_at = now(), updated_at = now(), last_error = 'cancelled by operator'"
        ) { state, applies, filtered in
            if !applies { return "already ended (\(state)): only pending deliveries are cancelled" }
            return filtered ? "does not match the --endpoint/--since given, or being sent by a worker right now" : "being sent by a worker right now; try again"
        }
    }

    /// SQL true when delivery `d` still has something to send: its own body, or its message's payload.
    var hasPayload: String {
        "(d.body IS NOT NULL OR EXISTS (SELECT 1 FROM \(schema.qualified("messages")) m WHERE m.id = d.message_id AND m.payload IS NOT NULL))"
    }

    /// One statement: lock the matching rows (skipping locked ones), change them, record the event, and
    /// report every id asked for with its state before the change. With `requirePayload`, rows whose
    /// payload was pruned are left alone and reported as such.
    private func change(
        ids: [Int64]?, filter: Filter, from: [DeliveryState], event: String, on connection: PGConnection, set: String,
        requirePayload: Bool = false, requireLiveEndpoint: Bool = false, reason: (_ state: String, _ applies: Bool, _ filtered: Bool) -> String
    ) async throws -> ChangeReport {
        let idArray = ids.map { "{" + $0.map(String.init).joined(separator: ",") + "}" }
        let fromArray = "{" + from.map(\.rawValue).joined(separator: ",") + "}"
        let condition = renumber(whereClause(filter), from: 3)
        let deliveries = schema.qualified("deliveries")
        let query = PGQuery(
            sql: """
                WITH wanted AS (
                    SELECT DISTINCT unnest($2::bigint[]) AS id
                ), target AS (
                    SELECT d.id, d.state, d.finished_at, d.attempts, d.last_status, d.last_error
                    FROM \(deliveries) d JOIN \(schema.qualified("endpoints")) e ON e.id = d.endpoint_id
                    WHERE d.state = ANY($1::text[]) AND ($2::bigint[] IS NULL OR d.id = ANY($2::bigint[])) AND \(condition.sql)
                      AND \(requirePayload ? hasPayload : "true")
                      -- A deleted endpoint's deliveries would only fail again (migrations/0016).
                      AND \(requireLiveEndpoint ? "e.deleted_at IS NULL" : "true")
                    FOR UPDATE OF d SKIP LOCKED
                ), changed AS (
                    UPDATE \(deliveries) d SET \(set) FROM target WHERE d.id = target.id RETURNING d.id
                ), recorded AS (
                    INSERT INTO \(schema.qualified("delivery_events")) (delivery_id, what, from_state, ended_at, attempts, last_status, last_error)
                    SELECT t.id, $3, t.state, t.finished_at, t.attempts, t.last_status, t.last_error
                    FROM target t JOIN changed c ON c.id = t.id
                )
                SELECT c.id, t.state, true AS changed, false AS pruned, false AS endpoint_deleted FROM changed c JOIN target t ON t.id = c.id
                UNION ALL
                SELECT w.id, d.state, false, NOT \(hasPayload), ed.deleted_at IS NOT NULL FROM wanted w LEFT JOIN \(deliveries) d ON d.id = w.id
                LEFT JOIN \(schema.qualified("endpoints")) ed ON ed.id = d.endpoint_id
                WHERE w.id NOT IN (SELECT id FROM changed)
                ORDER BY 1
                """,
            binds: [fromArray.pgBind, idArray.map { $0.pgBind } ?? .null, event.pgBind] + condition.binds)
        let filtered = filter.isFiltered
        var report = ChangeReport(changed: [], notFound: [], skipped: [])
        for row in try await connection.query(query).rows {
            let id: Int64 = try row.decode("id")
            let state: String? = try row.decode("state")
            if try row.decode("changed", as: Bool.self) {
                report.changed.append(id)
            } else if let state {
                let applies = from.map(\.rawValue).contains(state)
                let prunedColumn = try row.decode("pruned", as: Bool?.self) ?? false
                let pruned = requirePayload && applies && prunedColumn
                let endpointDeleted = try row.decode("endpoint_deleted", as: Bool?.self) ?? false
                let deleted = requireLiveEndpoint && applies && endpointDeleted
                let why = deleted ? "its endpoint was deleted" : pruned ? "its payload was pruned" : reason(state, applies, filtered)
                report.skipped.append(.init(id: id, state: state, reason: why))
            } else {
                report.notFound.append(id)
            }
        }
        return report
    }
}
