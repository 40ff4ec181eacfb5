internal import Crypto
internal import Foundation
internal import Herald
internal import Hummingbird

/// A browser's console session: the admin token it signed in with, kept in an HttpOnly cookie, and the
/// per-session token every console form must carry.
///
/// Why the token itself in the cookie, not a server-side session: `herald serve` keeps no state between
/// requests (any number of servers behind a load balancer, no schema change), and re-checking the token on
/// every request means a `herald tokens revoke` ends the session at once. The cookie is HttpOnly (no
/// script can read it), SameSite=Strict (no other site's page can make the browser send it) and scoped to
/// `/console` (the `/v1` API never sees it, and accepts only `Authorization`). It is `Secure` when
/// `herald serve` speaks HTTPS (`--tls-cert`); over plain HTTP, TLS belongs to a proxy in front.
struct ConsoleSession: Sendable {
    /// The cookie's name.
    static let cookieName = "herald_console"
    /// The cookie's path: the console only.
    static let cookiePath = "/console"
    /// How long a browser keeps the cookie: 12 hours, one working day; the token's own expiry and
    /// revocation end it sooner.
    static let lifetimeSeconds = 12 * 3600

    /// The admin token signed in with.
    let token: APIToken

    /// The cookie that starts the session; `secure` (HTTPS, `--tls-cert`): the browser never sends it over
    /// plain HTTP.
    func cookie(secure: Bool) -> Cookie {
        Cookie(
            name: Self.cookieName, value: token.text, maxAge: Self.lifetimeSeconds, path: Self.cookiePath, secure: secure, httpOnly: true,
            sameSite: .strict)
    }

    /// The cookie that ends it (empty and already expired).
    static func endingCookie(secure: Bool) -> Cookie {
        Cookie(name: cookieName, value: "", maxAge: 0, path: cookiePath, secure: secure, httpOnly: true, sameSite: .strict)
    }

    /// The anti-CSRF token of this session's forms: an HMAC of a fixed text keyed with the session's token.
    ///
    /// Why derived, not stored: it needs no state, differs per token, and cannot be computed without the
    /// token, which another site never sees (the cookie is HttpOnly and never sent to it). It reveals
    /// nothing of the token: HMAC-SHA256 is one-way.
    var formToken: String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("herald console form".utf8), using: SymmetricKey(data: Data(token.text.utf8)))
        return mac.map { String(format: "%02x", $0) }.joined()
    }

    /// Whether a submitted form carries this session's ``formToken`` (compared in constant time).
    func accepts(formToken presented: String?) -> Bool {
        guard let presented else { return false }
        return APIToken.constantTimeEqual(Array(presented.utf8), Array(formToken.utf8))
    }

    /// Whether a state-changing request came from a page of this server: its `Origin` (or, without one, its
    /// `Referer`) must name the host the request was sent to. A request with neither is let through to the
    /// form-token check, which it must pass anyway (some privacy tools strip both headers).
    ///
    /// Why compare with the request's `Host`: the server does not know the name operators reach it by; a
    /// proxy in front must pass `Host` on unchanged.
    static func isSameOrigin(origin: String?, referer: String?, host: String?) -> Bool {
        guard let claimed = origin ?? referer else { return true }
        guard claimed != "null", let host, let url = URL(string: claimed), let claimedHost = url.host else { return false }
        let claimedAuthority = (claimedHost.contains(":") && !claimedHost.hasPrefix("[") ? "[\(claimedHost)]" : claimedHost)
            + (url.port.map { ":\($0)" } ?? "")
        return claimedAuthority.lowercased() == host.lowercased()
    }
}
