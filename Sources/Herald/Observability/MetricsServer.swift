public import Logging
internal import NIOCore
internal import NIOHTTP1
internal import NIOPosix
public import ServiceLifecycle

/// Serves `/metrics` (Prometheus text), `/healthz` (the process is alive) and `/readyz` (the database
/// answers) for one worker.
///
/// A `Service`: it binds in `run()` and closes its socket on graceful shutdown.
public struct MetricsServer: Service {
    let host: String
    let port: Int
    let metrics: HeraldMetrics
    let ready: @Sendable () async -> Bool
    let logger: Logger

    /// - Parameter ready: answers `/readyz`; called per request.
    public init(host: String = "0.0.0.0", port: Int, metrics: HeraldMetrics, logger: Logger, ready: @escaping @Sendable () async -> Bool) {
        self.host = host
        self.port = port
        self.metrics = metrics
        self.ready = ready
        self.logger = logger
    }

    public func run() async throws {
        let metrics = self.metrics
        let ready = self.ready
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(ProbeHandler(metrics: metrics, ready: ready))
                }
            }
            .bind(host: host, port: port).get()
        logger.info("metrics listening", metadata: ["address": "\(host):\(port)", "paths": "/metrics /healthz /readyz"])
        try? await gracefulShutdown()
        try await channel.close()
    }
}

/// Answers one request per exchange; `/readyz` waits for the async readiness check.
final class ProbeHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let metrics: HeraldMetrics
    let ready: @Sendable () async -> Bool
    var path = ""

    init(metrics: HeraldMetrics, ready: @escaping @Sendable () async -> Bool) {
        self.metrics = metrics
        self.ready = ready
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            path = String(head.uri.split(separator: "?").first ?? "")
        case .body:
            break
        case .end:
            switch path {
            case "/metrics":
                respond(context, status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8", body: metrics.render())
            case "/healthz":
                respond(context, status: .ok, contentType: "text/plain", body: Array("ok\n".utf8))
            case "/readyz":
                let promise = context.eventLoop.makePromise(of: Bool.self)
                let ready = self.ready
                promise.completeWithTask { await ready() }
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                promise.futureResult.whenSuccess { isReady in
                    let (handler, context) = bound.value
                    handler.respond(
                        context, status: isReady ? .ok : .serviceUnavailable, contentType: "text/plain",
                        body: Array((isReady ? "ready\n" : "database unreachable\n").utf8))
                }
            default:
                respond(context, status: .notFound, contentType: "text/plain", body: Array("not found\n".utf8))
            }
        }
    }

    func respond(_ context: ChannelHandlerContext, status: HTTPResponseStatus, contentType: String, body: [UInt8]) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.count))
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
