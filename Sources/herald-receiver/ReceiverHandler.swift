import NIOCore
import NIOHTTP1

/// Reads a request, then answers per the ``ReplyPlan``.
final class ReceiverHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let plan: ReplyPlan
    let journal: Journal?
    var path = ""
    var key = ""
    var open = false

    init(plan: ReplyPlan, journal: Journal?) {
        self.plan = plan
        self.journal = journal
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            path = head.uri
            key = head.headers.first(name: "webhook-id") ?? ""
        case .body:
            break
        case .end:
            open = true
            journal?.record("start", key: key, path: path, status: nil)
            switch plan.reply(path: path) {
            case .ok(let after) where after == .zero:
                respond(context, status: 200)
            case .ok(let after):
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: after) {
                    let (handler, context) = bound.value
                    handler.respond(context, status: 200)
                }
            case .fail:
                respond(context, status: 500)
            case .hang:
                break
            case .reset:
                finish(status: nil)
                context.close(promise: nil)
            }
        }
    }

    private func finish(status: Int?) {
        guard open else { return }
        open = false
        journal?.record("end", key: key, path: path, status: status)
    }

    private func respond(_ context: ChannelHandlerContext, status: Int) {
        guard context.channel.isActive else { return }
        finish(status: status)
        let body = status == 200 ? "ok" : "error"
        var headers = HTTPHeaders()
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(status: nil)
        context.fireChannelInactive()
    }
}
