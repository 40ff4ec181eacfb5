internal import Foundation
internal import Herald

/// Every endpoint's last hour from the `endpoint_health` view: success rate, p95 latency, breaker, what
/// waits; a disabled endpoint with its reason and an Enable button.
struct ConsoleEndpointHealthPage {
    /// Endpoints shown at most; an application filter narrows a larger fleet.
    static let limit = 500

    var application: String?
    var applications: [String]
    var health: [EndpointStore.Health]
    var session: ConsoleSession
    var notices: [ConsoleLayout.Notice]

    var path: String {
        "/console/endpoints" + (application.map { "?" + ConsoleForm.encode([("app", $0)]) } ?? "")
    }

    func render() -> HTML {
        let options = HTML(joining: ["<option value=\"\">every application</option>"] + applications.map { app -> HTML in
            "<option value=\"\(app)\"\(app == application ? HTML(" selected") : "")>\(app)</option>"
        })
        let more: HTML = health.count >= Self.limit ? "<p class=\"muted\">The first \(Self.limit) endpoints are shown: choose an application.</p>" : ""
        let content: HTML = """
            <h1>Endpoint health</h1><p class="sub">The last hour of attempts per endpoint (the <code>endpoint_health</code> view), its circuit
            breaker and the deliveries waiting for it.</p>
            <form class="filters card" method="get" action="/console/endpoints"><label>Application<select name="app">\(options)</select></label>
            <button class="btn" type="submit">Apply</button></form>
            \(table)\(more)
            """
        return ConsoleLayout.page(title: "Endpoint health", session: session, section: .endpoints, notices: notices, content: content)
    }

    var table: HTML {
        guard !health.isEmpty else { return "<div class=\"tablewrap\"><div class=\"empty\">No endpoints.</div></div>" }
        let rows = health.map { h -> HTML in
            let url = Redactor.redact(h.url)
            let success: HTML = h.successPercent.map { pct in
                "<span class=\"\(pct >= 99 ? "good" : pct >= 90 ? "fair" : "poor")\">\(String(format: "%.1f", pct)) %</span><meter min=\"0\" max=\"100\" low=\"90\" high=\"99\" optimum=\"100\" value=\"\(String(format: "%.1f", pct))\"></meter>"
            } ?? "<span class=\"muted\">–</span>"
            let status: HTML = h.enabled
                ? ConsoleLayout.badge("enabled")
                : "\(ConsoleLayout.badge("disabled"))<div class=\"muted\">\(h.disabledReason.map { Redactor.redact($0) } ?? "")</div>"
            let failing: HTML = h.failingSince.map { "<div class=\"muted nowrap\">failing since \(ConsoleLayout.time($0)) UTC</div>" } ?? ""
            let enable: HTML = h.enabled ? "" : ConsoleLayout.button(
                "Enable", action: "/console/endpoints/\(h.endpointID)/enable", session: session, returnTo: path, name: "enable")
            return """
                <tr id="endpoint-\(h.endpointID)"><td class="mono"><a href="/console/?\(ConsoleForm.encode([("endpoint", String(h.endpointID)), ("state", "any")]))">#\(h.endpointID)</a></td>
                <td>\(h.applicationID)</td><td><span class="url mono" title="\(url)">\(url)</span>\(failing)</td><td>\(status)</td>
                <td class="num">\(h.attempts)</td><td class="num nowrap">\(success)</td>
                <td class="num">\(h.p95Milliseconds.map { "\(Int($0.rounded())) ms" } ?? "–")</td>
                <td>\(ConsoleLayout.badge(h.breakerState))</td><td class="num">\(h.pending)</td><td><div class="actions">\(enable)</div></td></tr>
                """
        }
        return """
            <div class="tablewrap"><table><thead><tr><th>ID</th><th>App</th><th>URL</th><th>Status</th><th class="num">Attempts 1 h</th>
            <th class="num">Success 1 h</th><th class="num">p95 1 h</th><th>Breaker</th><th class="num">Pending</th><th></th></tr></thead>
            <tbody>\(rows)</tbody></table></div>
            """
    }
}
