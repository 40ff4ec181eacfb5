internal import Herald
internal import Hummingbird

extension ConsoleHandler {
    /// GET /console/login: the form, with the notice its query names.
    func loginForm(_ request: Request, context: Context) async -> Response {
        let form = ConsoleForm(request.uri.query)
        return ConsoleResponse.page(ConsoleLoginPage.render(notice: ConsoleNotice.from(form["why"])))
    }

    /// POST /console/login: checks the token as the API's bearer check does (same store, same limiter);
    /// an admin token starts a session, an application token is refused saying why.
    func login(_ request: Request, context: Context) async -> Response {
        await rendering(session: nil) {
            let address = AuthMiddleware.clientAddress(context)
            if let wait = limiter.retryAfter(address) { return ConsoleLoginPage.limited(wait) }
            guard ConsoleSession.isSameOrigin(origin: request.headers[.origin], referer: request.headers[.referer], host: request.head.authority)
            else { return ConsoleLoginPage.refusal(.forbidden, "This sign-in was sent from another site.") }
            let form = ConsoleForm(String(buffer: try await request.body.collect(upTo: Self.maximumFormBytes)))
            guard let text = form["token"], let token = APIToken(parsing: text) else {
                limiter.recordFailure(address)
                return ConsoleLoginPage.refusal(.unauthorized, "That is not a Herald token: one looks like hrld_<id>_<secret>.")
            }
            let caller = try await database { try await TokenStore(schema: schema).tokenAuthenticate(token, on: $0) }
            guard let caller else {
                limiter.recordFailure(address)
                return ConsoleLoginPage.refusal(.unauthorized, "That token is unknown, revoked or expired.")
            }
            if let application = caller.application {
                return ConsoleLoginPage.refusal(
                    .forbidden,
                    "That is an application token (of \(application)): the console is for admin tokens only. Make one with herald tokens create --admin.")
            }
            logger.info("console sign-in", metadata: ["token": "\(token.id)"])
            return ConsoleResponse.redirect("/console/", cookie: ConsoleSession(token: token).cookie(secure: secureCookies))
        }
    }

    /// POST /console/logout: ends the browser's session (the token itself stays valid: revoke it with
    /// `herald tokens revoke` to end every use of it).
    func logout(_ request: Request, context: Context) async -> Response {
        await action(request, context: context) { _, _ in
            ConsoleResponse.redirect("/console/login?why=signedout", cookie: ConsoleSession.endingCookie(secure: secureCookies))
        }
    }
}
