internal import Foundation
internal import Herald
internal import Hummingbird
internal import Logging
internal import PGDriver

/// The console's routes: who is signed in, what a form must carry, and how failures become pages. The
/// pages' data comes from the same stores the `/v1` handlers call; the pages themselves are built by the
/// `Console…Page` values. One file per section: `ConsoleHandler+Deliveries.swift`, …
struct ConsoleHandler: Sendable {
    typealias Context = APIRequestContext

    let schema: SchemaName
    let pool: PGConnectionPool
    let keys: EncryptionKeys?
    let contact: DatabaseContact
    /// The `/v1` API's limiter: sign-ins and stale cookies count against the same address budget as bad
    /// bearer tokens, so the console is no way around it.
    let limiter: SharedFailedAuthLimiter
    let logger: Logger
    /// HTTPS (`--tls-cert`): the session cookie is `Secure`.
    let secureCookies: Bool

    /// The largest form accepted: a sign-in or a button, a few hundred bytes in practice.
    static let maximumFormBytes = 16_384

    /// Runs `body` on a pooled connection and records the database contact for `/readyz`.
    func database<T: Sendable>(_ body: @Sendable (PGConnection) async throws -> T) async throws -> T {
        let result = try await pool.withConnection(body)
        contact.record()
        return result
    }

    /// What a request's cookie says.
    enum SessionCheck {
        case signedIn(ConsoleSession)
        /// No session; `why` is the sign-in page's notice code, if one is due.
        case signedOut(why: String?)
        /// Too many failures from this address: wait this long.
        case limited(Duration)
    }

    /// Reads and checks the session cookie: an admin token that is neither revoked nor expired.
    func check(_ request: Request, context: Context) async throws -> SessionCheck {
        let address = AuthMiddleware.clientAddress(context)
        guard let value = request.cookies[ConsoleSession.cookieName]?.value, !value.isEmpty else { return .signedOut(why: nil) }
        if let wait = limiter.retryAfter(address) { return .limited(wait) }
        guard let token = APIToken(parsing: value) else {
            limiter.recordFailure(address)
            return .signedOut(why: "ended")
        }
        let caller = try await database { try await TokenStore(schema: schema).tokenAuthenticate(token, on: $0) }
        guard let caller else {
            limiter.recordFailure(address)
            return .signedOut(why: "ended")
        }
        guard caller.application == nil else { return .signedOut(why: "application") }
        return .signedIn(ConsoleSession(token: token))
    }

    /// A page for a signed-in admin; anyone else is sent to the sign-in page.
    func page(_ request: Request, context: Context, _ body: (ConsoleSession) async throws -> Response) async -> Response {
        await rendering(session: nil) {
            switch try await check(request, context: context) {
            case .signedIn(let session):
                do { return try await body(session) } catch { return errorPage(error, session: session) }
            case .signedOut(let why):
                // A cookie that no longer signs in is cleared; a browser without one gets none.
                return ConsoleResponse.redirect("/console/login" + (why.map { "?why=\($0)" } ?? ""), cookie: why.map { _ in ConsoleSession.endingCookie(secure: secureCookies) })
            case .limited(let wait):
                return ConsoleLoginPage.limited(wait)
            }
        }
    }

    /// A state-changing form of a signed-in admin: it must come from a console page of this server (its
    /// `Origin` or `Referer`) and carry the session's form token; else 403 and nothing changes.
    func action(_ request: Request, context: Context, _ body: (ConsoleSession, ConsoleForm) async throws -> Response) async -> Response {
        await page(request, context: context) { session in
            guard ConsoleSession.isSameOrigin(
                origin: request.headers[.origin], referer: request.headers[.referer], host: request.head.authority)
            else { return refused(session, "This form was sent from another site. Nothing was changed.") }
            let form = ConsoleForm(String(buffer: try await request.body.collect(upTo: Self.maximumFormBytes)))
            guard session.accepts(formToken: form["csrf"]) else {
                return refused(session, "This form did not carry this session's token (an old page, or another site). Nothing was changed; reload the page and try again.")
            }
            return try await body(session, form)
        }
    }

    private func refused(_ session: ConsoleSession, _ text: String) -> Response {
        let content: HTML = "<h1>Refused</h1><p class=\"sub\">Cross-site request protection.</p><p><a href=\"/console/\">Back to the console</a></p>"
        return ConsoleResponse.page(
            ConsoleLayout.page(title: "Refused", session: session, section: nil, notices: [.init(kind: "err", text: text)], content: content),
            status: .forbidden)
    }

    /// Runs `body`; an error thrown before a session is known becomes a bare error page.
    func rendering(session: ConsoleSession?, _ body: () async throws -> Response) async -> Response {
        do { return try await body() } catch { return errorPage(error, session: session) }
    }

    /// An error as a page: 404 for what does not exist, 422 for bad input, 503 when the database did not
    /// answer. Never the error's detail beyond a `HeraldError`'s message (which carries no secrets).
    func errorPage(_ error: any Error, session: ConsoleSession?) -> Response {
        let (status, title, text): (HTTPResponse.Status, String, String)
        switch error {
        case let error as HeraldError where error.code == .notFound: (status, title, text) = (.notFound, "Not found", error.message)
        case let error as HeraldError where error.code == .invalidInput || error.code == .conflict:
            (status, title, text) = (.init(code: 422), "Not possible", error.message)
        case let error as HTTPError: (status, title, text) = (error.status, "Bad request", "The request could not be read (\(error.status.code)).")
        default:
            logger.warning("console request failed", metadata: ["error": "\(String(reflecting: error))"])
            (status, title, text) = (.serviceUnavailable, "Database unavailable", "The database did not answer. Retry in a moment; `herald serve`'s log has the detail.")
        }
        let content: HTML = "<h1>\(title)</h1><p><a href=\"/console/\">Back to the console</a></p>"
        return ConsoleResponse.page(
            ConsoleLayout.page(title: title, session: session, section: nil, notices: [.init(kind: "err", text: text)], content: content),
            status: status)
    }

    /// `wanted` with `notice` in its query if it is a console page of this server (a path under /console,
    /// not `//host`), else the delivery list.
    ///
    /// Why: the way back after a button comes from the form, and a redirect to anywhere else would make
    /// the console an open redirector.
    static func returnPath(_ wanted: String?, notice: String) -> String {
        var target = "/console/"
        if let wanted, wanted.hasPrefix("/console/") || wanted == "/console", !wanted.contains("//"), !wanted.contains("\\"),
           !wanted.contains("#"), wanted.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7f }) {
            target = wanted
        }
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let kept = parts.count > 1 ? parts[1].split(separator: "&").filter { !$0.hasPrefix("notice=") }.map(String.init) : []
        return parts[0] + "?" + (kept + ["notice=" + notice]).joined(separator: "&")
    }
}
