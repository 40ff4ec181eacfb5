import NIOCore

/// How the receiver answers: the shares of each behaviour, drawn per request.
struct ReplyPlan: Sendable {
    enum Reply {
        case ok(after: TimeAmount)
        case fail
        case hang
        case reset
    }

    var failRate: Double
    var slowRate: Double
    var slowDelay: TimeAmount
    var delay: TimeAmount
    var hangRate: Double
    var resetRate: Double
    var downPrefix: String?

    func reply(path: String) -> Reply {
        if let downPrefix, path.hasPrefix(downPrefix) { return .fail }
        let draw = Double.random(in: 0..<1)
        if draw < hangRate { return .hang }
        if draw < hangRate + resetRate { return .reset }
        if draw < hangRate + resetRate + failRate { return .fail }
        if draw < hangRate + resetRate + failRate + slowRate { return .ok(after: delay + slowDelay) }
        return .ok(after: delay)
    }
}
