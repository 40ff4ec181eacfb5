internal import Herald

extension APIHandler {
    func listEndpoints(_ input: Operations.ListEndpoints.Input) async throws -> Operations.ListEndpoints.Output {
        let app = try Caller.scope(input.path.appId)
        let limit = try PageCursor.limit(input.query.limit)
        let after = try PageCursor.decodeID(input.query.iterator, list: "endpoints")
        _ = try await find(app)
        let page = try await database { try await EndpointStore(schema: schema).endpointPage(application: app, after: after, limit: limit, on: $0) }
        let next = Self.continuation(list: "endpoints", hasMore: page.hasMore, lastKey: page.items.last.map { String($0.id) })
        return .ok(.init(body: .json(.init(data: page.items.map { .init($0) }, iterator: next.iterator, done: next.done))))
    }

    func createEndpoint(_ input: Operations.CreateEndpoint.Input) async throws -> Operations.CreateEndpoint.Output {
        let app = try Caller.scope(input.path.appId)
        guard case .json(let body) = input.body else { throw APIProblem.notFound("route") }
        _ = try await find(app)
        var rng = SystemRandomNumberGenerator()
        let secret = WebhookSecret.generate(using: &rng)
        var new = EndpointStore.NewEndpoint(application: app, url: body.url, secret: secret)
        new.description = body.description ?? ""
        new.eventTypes = body.eventTypes
        new.channels = body.channels
        new.headers = body.headers?.additionalProperties ?? [:]
        new.maxAttempts = body.maxAttempts
        let store = EndpointStore(schema: schema, keys: keys)
        let request = new
        let endpoint = try await database { conn in
            let (id, _) = try await store.add(request, on: conn)
            return try await store.find(String(id), application: app, on: conn)
        }
        var answer = Components.Schemas.Endpoint(endpoint)
        answer.secret = secret.encoded
        return .created(.init(body: .json(answer)))
    }

    func getEndpoint(_ input: Operations.GetEndpoint.Input) async throws -> Operations.GetEndpoint.Output {
        let app = try Caller.scope(input.path.appId)
        let id = input.path.endpointId
        do {
            let endpoint = try await database { try await EndpointStore(schema: schema, keys: keys).find(String(id), application: app, on: $0) }
            return .ok(.init(body: .json(.init(endpoint))))
        } catch let error as HeraldError where error.code == .notFound {
            throw APIProblem.notFound("endpoint \(id)")
        }
    }
}

extension Components.Schemas.Endpoint {
    init(_ e: EndpointStore.Endpoint) {
        self.init(
            id: e.id, applicationId: e.applicationID, url: e.url, description: e.description, enabled: e.enabled,
            disabledReason: e.disabledReason, eventTypes: e.eventTypes, channels: e.channels, maxAttempts: e.maxAttempts,
            createdAt: e.createdAt, secret: nil)
    }
}
