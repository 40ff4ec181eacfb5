internal import Foundation
internal import Herald

/// One delivery: what it is, its buttons, and its timeline (enqueued, each attempt with its status,
/// duration, error and response excerpt, operator events, its end), as `herald deliveries show` prints it.
struct ConsoleDeliveryPage {
    var delivery: DeliveryAdminStore.Delivery
    var attempts: [DeliveryAdminStore.Attempt]
    var events: [DeliveryAdminStore.Event]
    var session: ConsoleSession
    var notices: [ConsoleLayout.Notice]

    func render() -> HTML {
        let d = delivery
        let url = Redactor.redact(d.url)
        let pruned: HTML = d.payloadPruned
            ? "<div class=\"notice warn\">Its payload was pruned (herald prune --payloads-older-than): it can no longer be replayed.</div>" : ""
        let content: HTML = """
            <div class="head"><div><h1>Delivery \(d.id) \(ConsoleLayout.badge(d.state))</h1>
            <p class="sub mono">\(url)</p></div><div class="actions">\(Self.actions(d, session: session, returnTo: "/console/deliveries/\(d.id)"))</div></div>
            \(pruned)
            <div class="card"><dl class="facts">
            <dt>Application</dt><dd>\(d.applicationID)</dd>
            <dt>Endpoint</dt><dd><a href="/console/?\(ConsoleForm.encode([("endpoint", String(d.endpointID)), ("state", "any")]))">#\(d.endpointID)</a></dd>
            <dt>Event type</dt><dd class="mono">\(d.eventType.isEmpty ? "–" : d.eventType)</dd>
            <dt>Event id</dt><dd class="mono">\(d.eventID ?? "–")</dd>
            <dt>Message</dt><dd class="mono">\(d.messageID.map(String.init) ?? "– (enqueued directly)")</dd>
            <dt>Idempotency key</dt><dd class="mono">\(d.idempotencyKey)</dd>
            <dt>Attempts</dt><dd>\(d.attempts)</dd>
            <dt>\(d.finishedAt == nil ? "Next attempt (UTC)" : "Ended (UTC)")</dt><dd>\(ConsoleLayout.time(d.finishedAt ?? d.nextAttemptAt))</dd>
            <dt>Created (UTC)</dt><dd>\(ConsoleLayout.time(d.createdAt))</dd>
            <dt>Last error</dt><dd>\(d.lastError.map { Redactor.redact($0) } ?? "–")</dd>
            </dl></div>
            <h2>Timeline</h2>
            <div class="tablewrap"><table><thead><tr><th>Time (UTC)</th><th>What</th><th>Status</th><th class="num">Duration</th><th>Worker</th></tr></thead>
            <tbody>\(timeline)</tbody></table></div>
            """
        return ConsoleLayout.page(title: "Delivery \(d.id)", session: session, section: .deliveries, notices: notices, content: content)
    }

    /// The timeline's rows in time order; a stable sort keeps the enqueue first when times tie.
    var timeline: [HTML] {
        var rows: [(Date, HTML)] = [(delivery.createdAt, "<td>enqueued</td><td></td><td></td><td></td>")]
        for a in attempts {
            let status: HTML = a.statusCode.map { "<span class=\"mono\">HTTP \($0)</span>" } ?? "<span class=\"muted\">no answer</span>"
            let outcome: HTML = a.outcome == "unknown"
                ? "attempt \(a.attempt): outcome unknown <span class=\"muted\">(interrupted: the worker died or froze mid-send)</span>"
                : "attempt \(a.attempt): \(ConsoleLayout.badge(a.outcome == "delivered" ? "delivered" : "failed")) <span class=\"muted\">\(a.outcome)</span>"
            let error: HTML = a.error.map { "<div class=\"label\">Error</div><pre>\(Redactor.redact($0))</pre>" } ?? ""
            let excerpt: HTML = a.responseExcerpt.map {
                $0.isEmpty ? "" : "<div class=\"label\">Response excerpt</div><pre>\(Redactor.redact($0))</pre>"
            } ?? ""
            let next: HTML = a.nextAttemptAt.map { "<div class=\"muted\">next attempt at \(ConsoleLayout.time($0))</div>" } ?? ""
            rows.append((a.startedAt, """
                <td>\(outcome)\(next)\(error)\(excerpt)</td><td>\(status)</td><td class="num">\(a.durationMs.map { "\($0) ms" } ?? "–")</td>
                <td class="mono muted">\(a.workerID)</td>
                """))
        }
        for e in events {
            if let ended = e.endedAt { rows.append((ended, "<td>ended \(ConsoleLayout.badge(e.fromState))</td><td></td><td></td><td></td>")) }
            rows.append((e.at, "<td>\(e.what) by <span class=\"mono\">\(e.actor)</span> (was \(e.fromState))</td><td></td><td></td><td></td>"))
        }
        if let end = delivery.finishedAt {
            rows.append((end, "<td>ended \(ConsoleLayout.badge(delivery.state))</td><td></td><td></td><td></td>"))
        }
        return rows.enumerated().sorted { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }.map { row in
            "<tr><td class=\"nowrap\">\(ConsoleLayout.time(row.element.0))</td>\(row.element.1)</tr>"
        }
    }

    /// The buttons `d`'s state allows: replay for a failed, dead or cancelled delivery that still has its
    /// payload; retry-now for a pending one.
    static func actions(_ d: DeliveryAdminStore.Delivery, session: ConsoleSession, returnTo: String) -> HTML {
        if let state = DeliveryState(rawValue: d.state), DeliveryAdminStore.replayableStates.contains(state), !d.payloadPruned {
            return ConsoleLayout.button("Replay", action: "/console/deliveries/\(d.id)/replay", session: session, returnTo: returnTo, name: "replay")
        }
        if d.state == DeliveryState.pending.rawValue {
            return ConsoleLayout.button(
                "Retry now", action: "/console/deliveries/\(d.id)/retry-now", session: session, returnTo: returnTo, style: "btn small light", name: "retry-now")
        }
        return ""
    }
}
