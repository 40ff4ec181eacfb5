internal import Foundation

/// The frame of every console page: the bar with the sections and the signed-in token, a notice, the
/// page's own content.
enum ConsoleLayout {
    /// The console's sections, in the bar's order.
    enum Section: CaseIterable {
        case deliveries, endpoints

        var path: String {
            switch self {
            case .deliveries: "/console/"
            case .endpoints: "/console/endpoints"
            }
        }

        var title: String {
            switch self {
            case .deliveries: "Dead letters & failures"
            case .endpoints: "Endpoint health"
            }
        }
    }

    /// A notice above the content: `ok` (green), `warn` (amber) or `err` (red).
    struct Notice: Sendable {
        var kind: String
        var text: String
    }

    /// A whole page; `session` nil for the sign-in page (no bar links, no sign-out).
    static func page(title: String, session: ConsoleSession?, section: Section?, notices: [Notice] = [], content: HTML) -> HTML {
        let nav: HTML
        let who: HTML
        if let session {
            nav = HTML(joining: Section.allCases.map { s -> HTML in
                "<a href=\"\(s.path)\"\(s == section ? HTML(" class=\"on\" aria-current=\"page\"") : "")>\(s.title)</a>"
            })
            who = """
                <div class="who"><span>admin token <span class="mono">\(session.token.id)</span></span>
                <form method="post" action="/console/logout">\(formToken(session))<button class="btn small ghost" type="submit">Sign out</button></form></div>
                """
        } else {
            nav = ""
            who = ""
        }
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
            <meta name="referrer" content="same-origin"><title>\(title) · Herald console</title>
            <style>\(HTML(trusted: ConsoleStyle.css))</style></head>
            <body><header><div class="bar"><a class="brand" href="/console/">Herald <span>console</span></a><nav>\(nav)</nav>\(who)</div></header>
            <main>\(HTML(joining: notices.map { "<div class=\"notice \($0.kind)\" role=\"status\">\($0.text)</div>" }))\(content)</main>
            </body></html>
            """
    }

    /// The hidden field every state-changing form carries.
    static func formToken(_ session: ConsoleSession) -> HTML {
        "<input type=\"hidden\" name=\"csrf\" value=\"\(session.formToken)\">"
    }

    /// A one-button form posting to `action`, carrying the form token and the way back.
    static func button(_ label: String, action: String, session: ConsoleSession, returnTo: String?, style: String = "btn small", name: String) -> HTML {
        let back: HTML = returnTo.map { "<input type=\"hidden\" name=\"return\" value=\"\($0)\">" } ?? ""
        return """
            <form method="post" action="\(action)">\(formToken(session))\(back)<button class="\(style)" type="submit" name="do" value="\(name)">\(label)</button></form>
            """
    }

    /// A time as `2026-12-03 08:48:27` in UTC (the pages say so in their headings).
    static func time(_ date: Date) -> String {
        String(date.formatted(Date.ISO8601FormatStyle(dateSeparator: .dash, dateTimeSeparator: .space, timeSeparator: .colon, timeZone: .gmt))
            .dropLast())
    }

    /// A state or breaker badge.
    static func badge(_ state: String) -> HTML {
        let known = ["pending", "delivered", "failed", "dead", "cancelled", "open", "half_open", "closed", "enabled", "disabled"]
        return "<span class=\"badge b-\(known.contains(state) ? state : "unknown")\">\(state.replacingOccurrences(of: "_", with: "-"))</span>"
    }
}
