internal import Herald

/// Who the current request speaks for, set by ``AuthMiddleware`` for the generated handlers.
///
/// Why a task-local: the generated handlers receive only the operation's input, not the Hummingbird
/// context; the middleware runs the rest of the request inside `withValue`, so the value cannot leak to
/// another request.
enum Caller {
    @TaskLocal static var current: TokenStore.Caller?

    /// The caller, or 401 if a route was reached without authentication (a wiring mistake).
    static func required() throws -> TokenStore.Caller {
        guard let current else { throw APIProblem.unauthorized }
        return current
    }

    /// The application a request may touch: 404 when an application token names another one, exactly as
    /// for an application that does not exist.
    static func scope(_ application: String) throws -> String {
        let caller = try required()
        if let own = caller.application, own != application { throw APIProblem.notFound("application \(application)") }
        return application
    }

    /// 404 for an application token on an admin-only route (breakers, creating applications): the route
    /// does not exist for it, and a 403 would say it does.
    static func requireAdmin(_ what: String) throws {
        if try required().application != nil { throw APIProblem.notFound(what) }
    }
}
