internal import Foundation
internal import PGDriver

/// Queries of `endpoint_minutes`, the per-minute send counts `endpoint_health` reads (migration 0021).
struct EndpointMinutesStore: Sendable {
    let schema: SchemaName

    /// How long rows are kept: the view reads the last hour; a day leaves room to look back at an incident.
    static let retention = "1 day"

    /// Adds `minutes` to the rows, creating those that are missing, in key order (one statement).
    func addQuery(_ minutes: EndpointMinutes) -> PGQuery {
        let objects = minutes.rows.map { row in
            var o = JSONObjectWriter()
            o.field("endpoint_id", row.key.endpointID)
            o.field("minute", row.key.minute)
            o.field("attempts", row.counts.attempts)
            o.field("delivered", row.counts.delivered)
            o.field("durations", "{" + row.counts.durations.map(String.init).joined(separator: ",") + "}")
            return o.object
        }
        let json = PGJSON(text: JSONObjectWriter.array(objects))
        let table = schema.qualified("endpoint_minutes")
        return """
            INSERT INTO \(unescaped: table) AS m (endpoint_id, minute, attempts, delivered, durations)
            SELECT r.endpoint_id, to_timestamp(r.minute), r.attempts, r.delivered, r.durations::integer[]
            FROM jsonb_to_recordset(\(json)::jsonb) AS r(endpoint_id bigint, minute bigint, attempts integer, delivered integer, durations text)
            ORDER BY r.endpoint_id, r.minute
            ON CONFLICT (endpoint_id, minute) DO UPDATE SET
                attempts = m.attempts + excluded.attempts,
                delivered = m.delivered + excluded.delivered,
                durations = ARRAY(SELECT u.a + u.b FROM unnest(m.durations, excluded.durations) WITH ORDINALITY AS u(a, b, i) ORDER BY u.i)
            """
    }

    /// Deletes rows older than ``retention`` (the fleet's sampler leader, every sample).
    var pruneQuery: PGQuery {
        "DELETE FROM \(unescaped: schema.qualified("endpoint_minutes")) WHERE minute < now() - \(Self.retention)::interval"
    }
}
