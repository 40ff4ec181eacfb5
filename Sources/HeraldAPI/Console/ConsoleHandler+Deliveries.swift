internal import Herald
internal import Hummingbird
internal import PGDriver

extension ConsoleHandler {
    /// GET /console/: failed and dead deliveries (or the state asked for), filtered, one page.
    func deliveryList(_ request: Request, context: Context) async -> Response {
        await page(request, context: context) { session in
            let form = ConsoleForm(request.uri.query)
            let query = ConsoleDeliveryQuery(form)
            let schema = self.schema
            let (page, applications) = try await database { conn in
                let page = try await DeliveryAdminStore(schema: schema).deliveryPage(
                    query.filter, createdSince: query.fromDate, createdUntil: query.untilDate, before: query.before,
                    limit: ConsoleDeliveryQuery.pageSize, on: conn)
                return (page, try await ApplicationStore(schema: schema).list(on: conn).map(\.id))
            }
            let notices = ConsoleNotice.from(form["notice"]).map { [$0] } ?? []
            return ConsoleResponse.page(
                ConsoleDeliveryListPage(query: query, page: page, applications: applications, session: session, notices: notices).render())
        }
    }

    /// GET /console/deliveries/{id}: one delivery's timeline.
    func delivery(_ request: Request, context: Context) async -> Response {
        await page(request, context: context) { session in
            let id = try Self.id(context)
            let store = DeliveryAdminStore(schema: schema)
            let (delivery, attempts, events) = try await database { conn in
                let (delivery, attempts) = try await store.show(id: id, on: conn)
                return (delivery, attempts, try await store.events(id: id, on: conn))
            }
            let notices = ConsoleNotice.from(ConsoleForm(request.uri.query)["notice"]).map { [$0] } ?? []
            return ConsoleResponse.page(
                ConsoleDeliveryPage(delivery: delivery, attempts: attempts, events: events, session: session, notices: notices).render())
        }
    }

    /// POST /console/deliveries/{id}/replay: `DeliveryAdminStore.replay`, as `POST /v1/deliveries/{id}/replay`.
    func replay(_ request: Request, context: Context) async -> Response {
        await change(request, context: context, done: "replayed") { store, id, conn in try await store.replay(ids: [id], filter: .init(), on: conn) }
    }

    /// POST /console/deliveries/{id}/retry-now: `DeliveryAdminStore.retryNow`, as the API's retry-now.
    func retryNow(_ request: Request, context: Context) async -> Response {
        await change(request, context: context, done: "retried") { store, id, conn in try await store.retryNow(ids: [id], filter: .init(), on: conn) }
    }

    private func change(
        _ request: Request, context: Context, done: String,
        _ body: @escaping @Sendable (DeliveryAdminStore, Int64, PGConnection) async throws -> DeliveryAdminStore.ChangeReport
    ) async -> Response {
        await action(request, context: context) { session, form in
            let id = try Self.id(context)
            let store = DeliveryAdminStore(schema: schema)
            let report = try await database { conn in try await body(store, id, conn) }
            if report.notFound.contains(id) { throw HeraldError(.notFound, "no delivery \(id)") }
            logger.info("console \(done)", metadata: ["delivery": "\(id)", "token": "\(session.token.id)", "changed": "\(!report.changed.isEmpty)"])
            let notice = report.changed.contains(id) ? "\(done).\(id)" : "unchanged.\(id)"
            return ConsoleResponse.redirect(Self.returnPath(form["return"], notice: notice))
        }
    }

    /// The route's `{id}`; 404 when it is not a number.
    static func id(_ context: Context) throws -> Int64 {
        guard let id = context.parameters.get("id", as: Int64.self) else { throw HeraldError(.notFound, "no such page") }
        return id
    }
}
