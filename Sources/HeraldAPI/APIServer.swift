internal import Foundation
public import Herald
internal import Hummingbird
internal import HummingbirdCore
internal import HummingbirdTLS
public import Logging
internal import NIOCore
internal import OpenAPIRuntime
internal import OpenAPIHummingbird
public import PGDriver
public import ServiceLifecycle

/// `herald serve`: the admin HTTP API as a `Service`.
///
/// Stateless: every request reads the database through a small pool, and nothing is remembered between
/// requests but metrics and the failed-authentication counts, so any number of servers can run behind a
/// load balancer. Graceful shutdown (SIGTERM) stops accepting connections, lets requests in flight finish,
/// then closes the pool.
public struct APIServer: Service, CustomStringConvertible {
    /// The largest request body: 1 MiB of payload (the default `herald.max_body_bytes`) plus 64 KiB of
    /// JSON around it; larger bodies are refused with 413 before they are read.
    public static let maximumRequestBytes = 1_048_576 + 65_536

    /// What the server needs; defaults as documented for `herald serve`.
    public struct Configuration: Sendable {
        /// Default 127.0.0.1: this machine only; 0.0.0.0 behind a load balancer or in a container.
        public var host = "127.0.0.1"
        /// Default 8080; 0 picks a free port (logged as `api listening`).
        public var port = 8080
        /// Database connections at most (default 8): one per request in flight.
        public var poolSize = 8
        /// Failed authentications allowed per client address per minute (default 10) before 429.
        public var authFailuresPerMinute = 10
        public var schema: SchemaName
        /// Seal endpoint secrets and headers written, as the CLI does.
        public var keys: EncryptionKeys?
        /// Serve HTTPS with this certificate and key; nil (the default): plain HTTP, for TLS terminated by
        /// a load balancer or a server on 127.0.0.1.
        public var tls: ServerTLS?

        public init(schema: SchemaName) { self.schema = schema }
    }

    let application: any Service
    /// The pool the requests use; closed when the server stops.
    public let pool: PGConnectionPool
    /// When the database last answered, for `/readyz`.
    public let contact: DatabaseContact
    let logger: Logger

    public var description: String { "APIServer" }

    /// Builds the router: `/v1` (authenticated, from openapi.yaml), `/console` (ConsoleRoutes),
    /// `/openapi.yaml`, `/healthz`, `/readyz`, `/metrics`.
    public init(configuration: Configuration, pool: PGConnectionPool, metrics: APIMetrics = APIMetrics(), logger: Logger) throws {
        let contact = DatabaseContact()
        let router = Router(context: APIRequestContext.self)
        // A server span per request, child of the caller's `traceparent` (no-op unless OTEL_* turns export on).
        router.add(middleware: TracingMiddleware())
        router.add(middleware: MetricsMiddleware(metrics: metrics))
        router.get("/healthz") { _, _ in Self.text(.ok, "ok\n") }
        router.get("/readyz") { _, _ in
            contact.isRecent ? Self.text(.ok, "ready\n") : Self.text(.serviceUnavailable, "no recent contact with the database\n")
        }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.render())))
        }
        router.get("/openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(string: OpenAPISpec.yaml)))
        }
        let limiter = SharedFailedAuthLimiter(FailedAuthLimiter(limit: configuration.authFailuresPerMinute))
        ConsoleRoutes.register(on: router, schema: configuration.schema, pool: pool, keys: configuration.keys, contact: contact, limiter: limiter, logger: logger,
            secureCookies: configuration.tls != nil)
        let v1 = router.group("v1")
            .add(middleware: AuthMiddleware(tokens: TokenStore(schema: configuration.schema), pool: pool, limiter: limiter, contact: contact))
            .add(middleware: BodyLimitMiddleware())
        let handler = APIHandler(schema: configuration.schema, pool: pool, contact: contact, keys: configuration.keys)
        try handler.registerHandlers(on: v1, serverURL: URL(string: "/")!, middlewares: [ProblemMiddleware()])
        let host = configuration.host
        let scheme = configuration.tls == nil ? "http" : "https"
        let server: HTTPServerBuilder = try configuration.tls.map { try .tls(.http1(), tlsConfiguration: $0.configuration()) } ?? .http1()
        let app = Application(
            router: router, server: server, configuration: .init(address: .hostname(host, port: configuration.port), serverName: "herald"),
            onServerRunning: { channel in
                logger.info("api listening", metadata: ["address": "\(host):\(channel.localAddress?.port ?? 0)", "scheme": "\(scheme)"])
            },
            logger: logger)
        self.application = app
        self.pool = pool
        self.contact = contact
        self.logger = logger
    }

    public func run() async throws {
        do {
            try await application.run()
        } catch {
            await pool.close()
            throw error
        }
        await pool.close()
        logger.info("api stopped")
    }

    static func text(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
