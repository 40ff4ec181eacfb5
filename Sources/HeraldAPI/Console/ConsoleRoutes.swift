internal import Herald
internal import Hummingbird
internal import Logging
internal import PGDriver

/// `/console`: the operator console of issue #14, server-rendered HTML for admin tokens, beside `/v1`.
///
/// Why in `herald serve` and not a program of its own: it needs exactly what the API has (the stores,
/// the pool, the token check and its rate limit), and one process to deploy. The routes sit outside the
/// `/v1` group, so the API's bearer middleware does not apply; the console checks its cookie itself.
enum ConsoleRoutes {
    /// Adds the console's routes to `router`.
    static func register(
        on router: Router<APIRequestContext>, schema: SchemaName, pool: PGConnectionPool, keys: EncryptionKeys?, contact: DatabaseContact,
        limiter: SharedFailedAuthLimiter, logger: Logger, secureCookies: Bool
    ) {
        let handler = ConsoleHandler(
            schema: schema, pool: pool, keys: keys, contact: contact, limiter: limiter, logger: logger, secureCookies: secureCookies)
        let console = router.group("console")
        console.get { request, context in await handler.deliveryList(request, context: context) }
        console.get("login") { request, context in await handler.loginForm(request, context: context) }
        console.post("login") { request, context in await handler.login(request, context: context) }
        console.post("logout") { request, context in await handler.logout(request, context: context) }
        console.get("deliveries/:id") { request, context in await handler.delivery(request, context: context) }
        console.post("deliveries/:id/replay") { request, context in await handler.replay(request, context: context) }
        console.post("deliveries/:id/retry-now") { request, context in await handler.retryNow(request, context: context) }
        console.get("endpoints") { request, context in await handler.endpointHealth(request, context: context) }
        console.post("endpoints/:id/enable") { request, context in await handler.enable(request, context: context) }
    }
}
