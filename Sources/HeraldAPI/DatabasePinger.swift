public import Herald
public import Logging
public import PGDriver
public import ServiceLifecycle

/// Asks the database every few seconds whether Herald's schema is there, so `/readyz` turns unready
/// within seconds of the database going away even when no request comes.
///
/// Why not a query per `/readyz`: a probe polled by several orchestrators would borrow a pool connection
/// per poll; requests that succeed also count as contact (``DatabaseContact``).
public struct DatabasePinger: Service {
    let pool: PGConnectionPool
    let tokens: TokenStore
    let contact: DatabaseContact
    /// Default 5 s: three pings fit in the contact window of 15 s.
    let interval: Duration
    let logger: Logger

    public init(pool: PGConnectionPool, schema: SchemaName, contact: DatabaseContact, interval: Duration = .seconds(5), logger: Logger) {
        self.pool = pool
        self.tokens = TokenStore(schema: schema)
        self.contact = contact
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        let tokens = self.tokens
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                if try await pool.withConnection({ try await tokens.tokenTableReachable(on: $0) }) { contact.record() }
            } catch {
                logger.warning("database ping failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
