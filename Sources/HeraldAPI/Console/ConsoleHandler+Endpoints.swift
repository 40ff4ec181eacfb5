internal import Herald
internal import Hummingbird

extension ConsoleHandler {
    /// GET /console/endpoints: every endpoint's health, or one application's.
    func endpointHealth(_ request: Request, context: Context) async -> Response {
        await page(request, context: context) { session in
            let form = ConsoleForm(request.uri.query)
            let application = form["app"]
            let schema = self.schema
            let (health, applications) = try await database { conn in
                (try await EndpointStore(schema: schema).endpointHealthList(application: application, limit: ConsoleEndpointHealthPage.limit, on: conn),
                 try await ApplicationStore(schema: schema).list(on: conn).map(\.id))
            }
            let notices = ConsoleNotice.from(form["notice"]).map { [$0] } ?? []
            return ConsoleResponse.page(
                ConsoleEndpointHealthPage(application: application, applications: applications, health: health, session: session, notices: notices)
                    .render())
        }
    }

    /// POST /console/endpoints/{id}/enable: `EndpointStore.setEnabled`, as `POST /v1/…/endpoints/{id}/enable`
    /// (recorded in `endpoint_events`, the operational webhook published).
    func enable(_ request: Request, context: Context) async -> Response {
        await action(request, context: context) { session, form in
            let id = try Self.id(context)
            let store = EndpointStore(schema: schema, keys: keys)
            let changed = try await database { conn in try await store.setEnabled(String(id), enabled: true, reason: nil, on: conn).changed }
            logger.info("console enable", metadata: ["endpoint": "\(id)", "token": "\(session.token.id)", "changed": "\(changed)"])
            return ConsoleResponse.redirect(Self.returnPath(form["return"], notice: changed ? "enabled.\(id)" : "already-enabled.\(id)"))
        }
    }
}
