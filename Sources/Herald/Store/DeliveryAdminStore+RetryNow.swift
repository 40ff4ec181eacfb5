public import PGDriver

extension DeliveryAdminStore {
    /// Makes waiting pending deliveries due at once (`next_attempt_at = now()`), keeping their attempt
    /// count: the retry budget is not reset (that is what replay is for). Rows a worker holds right now are
    /// skipped (`SKIP LOCKED`) and reported, as are ids not pending or already due. Wakes idle workers.
    ///
    /// Why not recorded in `delivery_events`: nothing about the delivery changes but when its next attempt
    /// happens, and that attempt is in the attempt log.
    public func retryNow(ids: [Int64]?, filter: Filter, on connection: PGConnection) async throws -> ChangeReport {
        let idArray = ids.map { "{" + $0.map(String.init).joined(separator: ",") + "}" }
        let condition = renumber(whereClause(filter), from: 1)
        let deliveries = schema.qualified("deliveries")
        let query = PGQuery(
            sql: """
                WITH wanted AS (
                    SELECT DISTINCT unnest($1::bigint[]) AS id
                ), candidates AS (
                    SELECT d.id, d.next_attempt_at > now() AS waiting
                    FROM \(deliveries) d JOIN \(schema.qualified("endpoints")) e ON e.id = d.endpoint_id
                    WHERE d.state = 'pending' AND ($1::bigint[] IS NULL OR d.id = ANY($1::bigint[])) AND \(condition.sql)
                ), free AS (
                    -- The lease's lock conflicts with this one: a row being sent is skipped, not waited for.
                    SELECT d.id FROM \(deliveries) d WHERE d.id IN (SELECT id FROM candidates) FOR NO KEY UPDATE SKIP LOCKED
                ), changed AS (
                    UPDATE \(deliveries) d SET next_attempt_at = now(), updated_at = now()
                    FROM free JOIN candidates c ON c.id = free.id
                    WHERE d.id = free.id AND c.waiting AND d.state = 'pending'
                    RETURNING d.id
                )
                SELECT c.id, 'pending' AS state,
                       CASE WHEN c.id IN (SELECT id FROM changed) THEN 'changed'
                            WHEN c.id NOT IN (SELECT id FROM free) THEN 'locked'
                            ELSE 'due' END AS outcome
                FROM candidates c
                UNION ALL
                SELECT w.id, d.state, CASE WHEN d.id IS NULL THEN 'missing' ELSE 'ended' END
                FROM wanted w LEFT JOIN \(deliveries) d ON d.id = w.id
                WHERE w.id NOT IN (SELECT id FROM candidates)
                ORDER BY 1
                """,
            binds: [idArray.map { $0.pgBind } ?? .null] + condition.binds)
        var report = ChangeReport(changed: [], notFound: [], skipped: [])
        let rows = try await DatabaseErrors.mapping { try await connection.query(query).rows }
        for row in rows {
            let id: Int64 = try row.decode("id")
            let state: String? = try row.decode("state")
            switch try row.decode("outcome", as: String.self) {
            case "changed":
                report.changed.append(id)
            case "locked":
                report.skipped.append(.init(id: id, state: "pending", reason: "being sent by a worker right now"))
            case "due" where ids != nil:
                report.skipped.append(.init(id: id, state: "pending", reason: "already due: a worker sends it at its next lease"))
            case "ended" where state == "pending":
                report.skipped.append(.init(id: id, state: "pending", reason: "does not match the filters given"))
            case "ended":
                report.skipped.append(.init(id: id, state: state ?? "?", reason: "already ended (\(state ?? "?")): only pending deliveries wait for a retry"))
            case "missing":
                report.notFound.append(id)
            default:
                break
            }
        }
        if !report.changed.isEmpty { try await connection.notify(DeliveryStore(schema: schema).wakeupChannel) }
        return report
    }
}
