public import Logging
internal import Foundation
internal import NIOCore
internal import NIOHTTP1
internal import NIOPosix
public import ServiceLifecycle

/// Serves `/metrics` (Prometheus text), `/healthz` (the process is alive) and `/readyz` (the worker heard
/// from its database recently) for one worker.
///
/// Bound by ``bind(host:port:metrics:logger:ready:)`` before the worker starts, so a busy port is an
/// error at startup, not a log line after "worker started"; then a `Service` that serves until graceful
/// shutdown and closes its socket. Binds 127.0.0.1 unless told otherwise: the endpoints are unauthenticated
/// and describe the queue, so reaching them from elsewhere (a container's published port) is a choice.
public struct MetricsServer: Service {
    /// The default bind address: this machine only.
    public static let defaultHost = "127.0.0.1"

    let host: String
    let port: Int
    let channel: any Channel
    let logger: Logger

    /// Binds the listening socket now.
    /// - Parameter ready: answers `/readyz`; called per request, so it must be cheap (no query).
    /// - Throws: ``HeraldError/Code/invalidInput`` naming the address and why it cannot be used.
    public static func bind(
        host: String = defaultHost, port: Int, metrics: HeraldMetrics, logger: Logger, ready: @escaping @Sendable () -> Bool
    ) async throws -> MetricsServer {
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(ProbeHandler(metrics: metrics, ready: ready))
                    }
                }
                .bind(host: host, port: port).get()
        } catch let error as IOError {
            let reason = error.errnoCode == EADDRINUSE ? "the port is already in use" : String(cString: strerror(error.errnoCode))
            throw HeraldError.invalid("cannot listen on \(host):\(port): \(reason)")
        } catch {
            throw HeraldError.invalid("cannot listen on \(host):\(port): \(error)")
        }
        return MetricsServer(host: host, port: port, channel: channel, logger: logger)
    }

    /// Closes the socket of a server that will not be run.
    public func close() async {
        try? await channel.close()
    }

    public func run() async throws {
        logger.info("metrics listening", metadata: ["address": "\(host):\(port)", "paths": "/metrics /healthz /readyz"])
        try? await gracefulShutdown()
        try? await channel.close()
    }
}

/// Answers one request per exchange.
final class ProbeHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let metrics: HeraldMetrics
    let ready: @Sendable () -> Bool
    var path = ""

    init(metrics: HeraldMetrics, ready: @escaping @Sendable () -> Bool) {
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
                let isReady = ready()
                respond(
                    context, status: isReady ? .ok : .serviceUnavailable, contentType: "text/plain",
                    body: Array((isReady ? "ready\n" : "no recent contact with the database\n").utf8))
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
