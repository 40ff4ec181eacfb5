internal import Herald

extension APIHandler {
    func listApplications(_ input: Operations.ListApplications.Input) async throws -> Operations.ListApplications.Output {
        let caller = try Caller.required()
        let limit = try PageCursor.limit(input.query.limit)
        let after = try PageCursor.decode(input.query.iterator, list: "applications")
        let page = try await database { try await ApplicationStore(schema: schema).applicationPage(after: after, only: caller.application, limit: limit, on: $0) }
        let next = Self.continuation(list: "applications", hasMore: page.hasMore, lastKey: page.items.last?.id)
        return .ok(.init(body: .json(.init(data: page.items.map(Components.Schemas.Application.init), iterator: next.iterator, done: next.done))))
    }

    func createApplication(_ input: Operations.CreateApplication.Input) async throws -> Operations.CreateApplication.Output {
        try Caller.requireAdmin("route")
        guard case .json(let body) = input.body else { throw APIProblem.notFound("route") }
        let created = try await database {
            try await ApplicationStore(schema: schema).add(id: body.id, name: body.name, retentionDays: body.retentionDays, on: $0)
        }
        return .created(.init(body: .json(.init(created))))
    }

    func getApplication(_ input: Operations.GetApplication.Input) async throws -> Operations.GetApplication.Output {
        let id = try Caller.scope(input.path.appId)
        let application = try await find(id)
        return .ok(.init(body: .json(.init(application))))
    }

    func updateApplication(_ input: Operations.UpdateApplication.Input) async throws -> Operations.UpdateApplication.Output {
        let id = try Caller.scope(input.path.appId)
        guard case .json(let body) = input.body else { throw APIProblem.notFound("route") }
        let retention: Int?? = body.clearRetention == true ? .some(nil) : body.retentionDays.map { .some($0) }
        _ = try await find(id)
        let updated = try await database {
            try await ApplicationStore(schema: schema).set(id, name: body.name, retentionDays: retention, on: $0)
        }
        return .ok(.init(body: .json(.init(updated))))
    }

    /// The application, or 404 (Herald's own `_operations` too: it is not a customer's).
    func find(_ id: String) async throws -> ApplicationStore.Application {
        guard !id.hasPrefix("_") else { throw APIProblem.notFound("application \(id)") }
        do {
            return try await database { try await ApplicationStore(schema: schema).find(id, on: $0) }
        } catch let error as HeraldError where error.code == .notFound {
            throw APIProblem.notFound("application \(id)")
        }
    }
}

extension Components.Schemas.Application {
    init(_ a: ApplicationStore.Application) {
        self.init(
            id: a.id, name: a.name, retentionDays: a.retentionDays, endpoints: a.endpoints, enabledEndpoints: a.enabledEndpoints,
            messages: a.messages, createdAt: a.createdAt, updatedAt: a.updatedAt)
    }
}
