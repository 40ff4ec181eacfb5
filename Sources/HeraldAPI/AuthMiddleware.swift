internal import Foundation
internal import Hummingbird
internal import Herald
internal import PGDriver

/// Bearer authentication of every `/v1` route, with failed attempts rate-limited per client address.
///
/// The token's shape is checked before any database read; then its row is found by its public id and its
/// SHA-256 compared in constant time (``TokenStore/tokenAuthenticate(_:on:)``). The caller is set for the
/// handlers through ``Caller/current``.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    let tokens: TokenStore
    let pool: PGConnectionPool
    let limiter: SharedFailedAuthLimiter
    let contact: DatabaseContact

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let address = Self.clientAddress(context)
        if let wait = limiter.retryAfter(address) {
            var problem = APIProblem(
                .tooManyRequests, code: "rate_limited",
                "too many failed authentications from this address: wait \(Int(wait.components.seconds) + 1) s, then retry with a valid token")
            problem.headers["Retry-After"] = String(Int(wait.components.seconds) + 1)
            throw problem
        }
        guard let caller = try await authenticate(request) else {
            limiter.recordFailure(address)
            throw APIProblem.unauthorized
        }
        return try await Caller.$current.withValue(caller) { try await next(request, context) }
    }

    private func authenticate(_ request: Request) async throws -> TokenStore.Caller? {
        guard let header = request.headers[.authorization], header.count > 7,
              header.prefix(7).lowercased() == "bearer ",
              let token = APIToken(parsing: String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)) else { return nil }
        do {
            let caller = try await pool.withConnection { try await tokens.tokenAuthenticate(token, on: $0) }
            contact.record()
            return caller
        } catch {
            throw APIProblem(.serviceUnavailable, code: "database_unavailable", "the database did not answer; retry later")
        }
    }

    /// The address failures are counted by: the IP without the port.
    static func clientAddress(_ context: Context) -> String {
        context.remoteAddress?.ipAddress ?? "unknown"
    }
}
