import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A real HTTP server on 127.0.0.1 for integration tests, scripted per request.
///
/// It records every request (headers, body bytes, when it arrived and when its exchange ended) and how many
/// requests with the same idempotency key were open at once, so tests can check at-least-once delivery and
/// "never two sends of one delivery at the same time" from the receiver's side.
public final class TestReceiver: Sendable {
    /// One received request.
    public struct Request: Sendable {
        public var path: String
        /// Header names lower-cased.
        public var headers: [String: String]
        public var body: [UInt8]
        public var receivedAt: Date
        /// `webhook-id`.
        public var key: String { headers["webhook-id"] ?? "" }
    }

    /// How to answer.
    public enum Reply: Sendable {
        /// Answer `status` (after `delay`).
        case status(Int, headers: [String: String] = [:], body: String = "", delay: Duration = .zero)
        /// Keep the request open until ``releaseHeld(status:)`` or the client goes away.
        case hold
        /// Close the connection without answering.
        case close
    }

    /// Decides the reply; `attempt` counts requests seen so far with the same idempotency key (1-based).
    public typealias Behaviour = @Sendable (_ request: Request, _ attempt: Int) -> Reply

    struct State {
        var requests: [Request] = []
        var perKey: [String: Int] = [:]
        var open: [String: Int] = [:]
        var maxOpenPerKey = 0
        var openByPath: [String: Int] = [:]
        var maxOpenByPath: [String: Int] = [:]
        var held: [NIOLoopBound<ChannelHandlerContext>] = []
        var overlaps: [String] = []  // NIOLoopBound.eventLoop is safe anywhere
    }

    let state = Mutex(State())
    let behaviour: Behaviour
    let channel: Mutex<(any Channel)?> = Mutex(nil)
    let boundPort = Atomic<Int>(0)
    /// The port it listens on.
    public var port: Int { boundPort.load(ordering: .relaxed) }

    init(behaviour: @escaping Behaviour) { self.behaviour = behaviour }

    /// One event-loop thread for every test receiver: a killed client's EOF and a later request on another
    /// connection are then handled in the order the kernel reported them, so "open at the same time" is
    /// judged in real order rather than by two threads racing.
    static let loop = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    /// Starts a receiver on a free port of 127.0.0.1.
    public static func start(_ behaviour: @escaping Behaviour = { _, _ in .status(200) }) async throws -> TestReceiver {
        let receiver = TestReceiver(behaviour: behaviour)
        let bootstrap = ServerBootstrap(group: Self.loop)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(ReceiverHandler(receiver: receiver))
                }
            }
        let channel = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        receiver.boundPort.store(channel.localAddress?.port ?? 0, ordering: .relaxed)
        receiver.channel.withLock { $0 = channel }
        return receiver
    }

    /// `http://127.0.0.1:<port><path>`.
    public func url(_ path: String = "/") -> String { "http://127.0.0.1:\(port)\(path)" }

    /// Every request so far, in arrival order.
    public var requests: [Request] { state.withLock { $0.requests } }

    /// Requests that reached `path`.
    public func requests(path: String) -> [Request] { requests.filter { $0.path == path } }

    /// The most requests with one idempotency key that were ever open at the same time.
    public var maxOpenPerKey: Int { state.withLock { $0.maxOpenPerKey } }

    /// Keys that ever had two requests open at once (for diagnosing a failed check).
    public var overlappingKeys: [String] { state.withLock { $0.overlaps } }

    /// The most requests to `path` that were ever open at the same time.
    public func maxOpen(path: String) -> Int { state.withLock { $0.maxOpenByPath[path] ?? 0 } }

    /// Requests currently held by ``Reply/hold``.
    public var heldCount: Int { state.withLock { $0.held.count } }

    /// Answers every held request with `status`.
    public func releaseHeld(status: Int = 200) {
        let held = state.withLock { s in
            defer { s.held.removeAll() }
            return s.held
        }
        for context in held {
            context.eventLoop.execute {
                ReceiverHandler.respond(context.value, status: status, headers: [:], body: "", receiver: self)
            }
        }
    }

    public func stop() async {
        let channel = self.channel.withLock { $0 }
        try? await channel?.close()
    }

    func opened(_ request: Request) -> Int {
        state.withLock { s in
            s.requests.append(request)
            s.perKey[request.key, default: 0] += 1
            s.open[request.key, default: 0] += 1
            if s.open[request.key]! > 1 { s.overlaps.append(request.key) }
            s.maxOpenPerKey = max(s.maxOpenPerKey, s.open[request.key]!)
            s.openByPath[request.path, default: 0] += 1
            s.maxOpenByPath[request.path] = max(s.maxOpenByPath[request.path] ?? 0, s.openByPath[request.path]!)
            return s.perKey[request.key]!
        }
    }

    func closed(_ request: Request) {
        state.withLock { s in
            s.open[request.key, default: 1] -= 1
            s.openByPath[request.path, default: 1] -= 1
        }
    }

    func hold(_ context: ChannelHandlerContext) {
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        state.withLock { $0.held.append(bound) }
    }
}

/// Reads one request at a time and answers as the receiver's behaviour says.
final class ReceiverHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let receiver: TestReceiver
    var head: HTTPRequestHead?
    var body: [UInt8] = []
    var current: TestReceiver.Request?

    init(receiver: TestReceiver) { self.receiver = receiver }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
        case .body(var buffer):
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            guard let head else { return }
            var headers: [String: String] = [:]
            for (name, value) in head.headers { headers[name.lowercased()] = value }
            let request = TestReceiver.Request(path: head.uri, headers: headers, body: body, receivedAt: Date())
            current = request
            let attempt = receiver.opened(request)
            switch receiver.behaviour(request, attempt) {
            case .status(let status, let headers, let text, let delay):
                if delay == .zero {
                    Self.respond(context, status: status, headers: headers, body: text, receiver: receiver)
                } else {
                    let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                    let receiver = self.receiver
                    context.eventLoop.scheduleTask(in: .nanoseconds(Int64(delay.components.seconds) * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000)) {
                        Self.respond(bound.value, status: status, headers: headers, body: text, receiver: receiver)
                    }
                }
            case .hold:
                receiver.hold(context)
            case .close:
                finish()
                context.close(promise: nil)
            }
        }
    }

    /// Marks the current request's exchange as ended (answered or abandoned).
    func finish() {
        if let current { receiver.closed(current) }
        current = nil
    }

    static func respond(_ context: ChannelHandlerContext, status: Int, headers: [String: String], body: String, receiver: TestReceiver) {
        guard context.channel.isActive, let handler = try? context.pipeline.syncOperations.handler(type: ReceiverHandler.self) else { return }
        handler.finish()
        var h = HTTPHeaders()
        for (k, v) in headers { h.add(name: k, value: v) }
        h.add(name: "Content-Length", value: String(body.utf8.count))
        context.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: h))), promise: nil)
        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish()
        context.fireChannelInactive()
    }
}
