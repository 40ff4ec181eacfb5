internal import Hummingbird

/// The sign-in page: paste an admin token.
enum ConsoleLoginPage {
    static func render(notice: ConsoleLayout.Notice? = nil) -> HTML {
        let content: HTML = """
            <div class="login card"><h1>Sign in</h1>
            <p class="sub">Paste an admin token. The console shows and changes every application's deliveries.</p>
            <form method="post" action="/console/login"><label for="token">Admin token</label>
            <textarea id="token" name="token" required autocomplete="off" autocapitalize="off" spellcheck="false" placeholder="hrld_…"></textarea>
            <button class="btn" type="submit">Sign in</button></form>
            <p class="hint">Make one with <code>herald tokens create --admin --name you</code>. The browser keeps it in a cookie only this console
            reads (HttpOnly, SameSite=Strict) for 12 hours, or until you sign out or the token is revoked.</p></div>
            """
        return ConsoleLayout.page(title: "Sign in", session: nil, section: nil, notices: notice.map { [$0] } ?? [], content: content)
    }

    /// The page with a notice and a status, e.g. 401 for a token that is not valid.
    static func refusal(_ status: HTTPResponse.Status, _ text: String) -> Response {
        ConsoleResponse.page(render(notice: .init(kind: "err", text: text)), status: status)
    }

    /// 429 with `Retry-After`: this address failed too often.
    static func limited(_ wait: Duration) -> Response {
        let seconds = Int(wait.components.seconds) + 1
        var response = refusal(.tooManyRequests, "Too many failed sign-ins from this address: wait \(seconds) s, then try again.")
        response.headers[.retryAfter] = String(seconds)
        return response
    }
}
