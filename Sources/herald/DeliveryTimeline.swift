import Foundation
import Herald

/// `herald deliveries show` as text: the delivery, then enqueue, attempts, operator events and ends in
/// time order.
struct DeliveryTimeline {
    var delivery: DeliveryAdminStore.Delivery
    var attempts: [DeliveryAdminStore.Attempt]
    var events: [DeliveryAdminStore.Event]

    /// How long a worker holds a delivery back after an interrupted send: the request timeout + 10 s
    /// (`WorkerConfiguration.resendWait`). The CLI cannot know a worker's `--request-timeout`, so it assumes
    /// the default.
    static let interruptedWait = WorkerConfiguration.defaultRequestTimeoutSeconds + 10

    func lines() -> [String] {
        let d = delivery
        var out = [
            "delivery \(d.id)  \(d.state)  \(d.url)",
            "event    \(d.eventType.isEmpty ? "-" : d.eventType)  id \(d.eventID ?? "-")  key \(d.idempotencyKey)",
            "app      \(d.applicationID)  endpoint \(d.endpointID)  message \(d.messageID.map(String.init) ?? "- (enqueued directly)")",
        ]
        if d.payloadPruned { out.append("payload  pruned (herald prune --payloads-older-than): it can no longer be replayed") }
        var rows: [(Date, String)] = [(d.createdAt, "enqueued")]
        for a in attempts {
            if a.outcome == "unknown" {
                rows.append((a.startedAt, "attempt \(a.attempt): outcome unknown (interrupted: the worker died or froze mid-send) by \(a.workerID)"))
                continue
            }
            let status = a.statusCode.map { "HTTP \($0)" } ?? "no answer"
            let duration = a.durationMs.map { "\($0) ms" } ?? "duration unknown"
            let next = a.nextAttemptAt.map { ", next at \(TextTable.time($0))" } ?? ""
            rows.append((a.startedAt, "attempt \(a.attempt): \(a.outcome), \(status), \(duration) by \(a.workerID)\(next)"))
            if let error = a.error { rows.append((a.startedAt, "    error: \(error)")) }
        }
        for e in events {
            if let ended = e.endedAt { rows.append((ended, "ended \(e.fromState)")) }
            rows.append((e.at, "\(e.what) by \(e.actor) (was \(e.fromState))"))
        }
        // A stable sort keeps an attempt's error line right after it.
        for (at, text) in rows.enumerated().sorted(by: { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }).map(\.element) {
            out.append(text.hasPrefix("    ") ? text : "\(TextTable.time(at))  \(text)")
        }
        if let end = d.finishedAt {
            out.append("\(TextTable.time(end))  ended \(d.state)\(d.lastError.map { ": \($0)" } ?? "")")
        } else {
            out.append("pending: next attempt at \(TextTable.time(nextAttempt))")
        }
        return out
    }

    /// When the next attempt can really happen: after the latest send was interrupted, a worker holds the
    /// delivery back for the request timeout + 10 s from that send, whatever `next_attempt_at` says.
    var nextAttempt: Date {
        guard let last = attempts.last, last.outcome == "unknown" else { return delivery.nextAttemptAt }
        return max(delivery.nextAttemptAt, last.startedAt.addingTimeInterval(Self.interruptedWait))
    }
}
