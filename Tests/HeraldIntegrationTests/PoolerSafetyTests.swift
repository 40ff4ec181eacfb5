import Foundation
import HeraldTestSupport
import PGDriver
import Testing

@testable import Herald

/// What keeps a worker correct behind a transaction-pooling PgBouncer, where consecutive transactions of
/// one client run on different server connections (issue #15).
@Suite("Pooler safety")
struct PoolerSafetyTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    @Test("the lease sets the idle-in-transaction timeout for its own transaction, on a session that never set it")
    func idleTimeoutPerTransaction() async throws {
        let (schema, setup) = try await pg.migratedSchema("pool")
        await setup.close()
        // A fresh session, as a pooler's server connection would be: the timeout is the server default (0).
        let conn = try await pg.connect()
        #expect(try await conn.query("SHOW idle_in_transaction_session_timeout").first?.decode("idle_in_transaction_session_timeout", as: String.self) == "0")
        let configuration = WorkerConfiguration(connectionString: pg.url, schema: try SchemaName(schema))
        let store = DeliveryStore(schema: try SchemaName(schema))
        let inside = try await conn.withTransaction(startingWith: store.leaseQuery(configuration.leaseSettings)) { tx, _ in
            try await tx.query("SHOW idle_in_transaction_session_timeout").first?.decode("idle_in_transaction_session_timeout", as: String.self)
        }
        #expect(inside == "25s", "request timeout 15 s + 10 s, for this transaction")
        #expect(try await conn.query("SHOW idle_in_transaction_session_timeout").first?.decode("idle_in_transaction_session_timeout", as: String.self) == "0",
                "and only for it: the next transaction on this server connection may be another client's")
        await conn.close()
    }
}
