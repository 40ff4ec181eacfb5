internal import Foundation
internal import Herald

/// The first page: failed and dead deliveries (or any state), filtered, newest first, 50 at a time, each
/// with the button its state allows.
struct ConsoleDeliveryListPage {
    var query: ConsoleDeliveryQuery
    var page: Page<DeliveryAdminStore.Delivery>
    var applications: [String]
    var session: ConsoleSession
    var notices: [ConsoleLayout.Notice]

    /// This list's own address, the buttons' way back.
    var path: String {
        let encoded = query.encoded(before: query.before)
        return "/console/" + (encoded.isEmpty ? "" : "?" + encoded)
    }

    func render() -> HTML {
        let problems = query.problems.map { ConsoleLayout.Notice(kind: "warn", text: $0) }
        let title = query.states == .problems ? "Dead letters & failed deliveries" : "Deliveries"
        let content: HTML = """
            <h1>\(title)</h1><p class="sub">Deliveries that ended without success, newest first. Replay sends one again with a fresh attempt
            budget; retry-now makes a waiting one due at once.</p>
            \(filters)
            \(table)
            \(pager)
            """
        return ConsoleLayout.page(title: title, session: session, section: .deliveries, notices: notices + problems, content: content)
    }

    var filters: HTML {
        let appOptions = HTML(joining: ["<option value=\"\">every application</option>"] + applications.map { app -> HTML in
            "<option value=\"\(app)\"\(app == query.application ? HTML(" selected") : "")>\(app)</option>"
        })
        let stateChoices: [(String, String)] = [("problems", "failed + dead"), ("failed", "failed"), ("dead", "dead"), ("cancelled", "cancelled"),
                                               ("pending", "pending"), ("delivered", "delivered"), ("any", "any state")]
        let stateOptions = HTML(joining: stateChoices.map { value, label -> HTML in
            "<option value=\"\(value)\"\(value == query.states.formValue ? HTML(" selected") : "")>\(label)</option>"
        })
        return """
            <form class="filters card" method="get" action="/console/">
            <label>Application<select name="app">\(appOptions)</select></label>
            <label>Endpoint (id or URL)<input name="endpoint" size="28" value="\(query.endpoint ?? "")" placeholder="any"></label>
            <label>State<select name="state">\(stateOptions)</select></label>
            <label>Created from (UTC)<input type="datetime-local" name="from" value="\(query.from ?? "")"></label>
            <label>until (UTC)<input type="datetime-local" name="until" value="\(query.until ?? "")"></label>
            <button class="btn" type="submit">Apply</button> <a href="/console/">Clear</a>
            </form>
            """
    }

    var table: HTML {
        guard !page.items.isEmpty else {
            return "<div class=\"tablewrap\"><div class=\"empty\">No deliveries match these filters.</div></div>"
        }
        let rows = page.items.map { d -> HTML in
            let result: HTML = d.lastStatus.map { "<span class=\"mono\">HTTP \($0)</span> " } ?? ""
            let error: HTML = d.lastError.map { "<span class=\"clip muted\" title=\"\(Redactor.redact($0))\">\(Redactor.redact($0))</span>" } ?? ""
            let url = Redactor.redact(d.url)
            return """
                <tr id="delivery-\(d.id)"><td class="mono"><a href="/console/deliveries/\(d.id)">\(d.id)</a></td><td>\(ConsoleLayout.badge(d.state))</td>
                <td>\(d.applicationID)</td>
                <td><a class="mono" href="/console/?\(ConsoleForm.encode([("endpoint", String(d.endpointID)), ("state", query.states.formValue)]))">#\(d.endpointID)</a>
                <span class="url mono muted" title="\(url)">\(url)</span></td>
                <td class="mono">\(d.eventType.isEmpty ? "–" : d.eventType)</td><td class="num">\(d.attempts)</td>
                <td>\(result)\(error)</td>
                <td class="nowrap" title="created \(ConsoleLayout.time(d.createdAt))">\(ended(d))</td>
                <td><div class="actions">\(actions(d))</div></td></tr>
                """
        }
        return """
            <div class="tablewrap"><table><thead><tr><th>ID</th><th>State</th><th>App</th><th>Endpoint</th><th>Event</th><th class="num">Att.</th>
            <th>Last result</th><th>Ended (UTC)</th><th></th></tr></thead><tbody>\(rows)</tbody></table></div>
            """
    }

    /// When `d` ended; for a pending one, when its next attempt is due.
    func ended(_ d: DeliveryAdminStore.Delivery) -> HTML {
        if let finished = d.finishedAt { return "\(ConsoleLayout.time(finished))" }
        return "<span class=\"muted\">next \(ConsoleLayout.time(d.nextAttemptAt))</span>"
    }

    /// The buttons a delivery's state allows: replay for an ended one with its payload, retry-now for a
    /// pending one.
    func actions(_ d: DeliveryAdminStore.Delivery) -> HTML {
        ConsoleDeliveryPage.actions(d, session: session, returnTo: path)
    }

    var pager: HTML {
        let first: HTML = query.before == nil ? "" : "<a class=\"btn light small\" href=\"/console/?\(query.encoded())\">« Newest</a>"
        let older: HTML = page.hasMore
            ? "<a class=\"btn light small\" href=\"/console/?\(query.encoded(before: page.items.last?.id))\">Older »</a>" : ""
        return "<div class=\"pager\"><span>\(page.items.count) shown\(page.hasMore ? ", more older" : "")</span><div class=\"links\">\(first)\(older)</div></div>"
    }
}
