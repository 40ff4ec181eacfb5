internal import Foundation
internal import Herald
internal import PGDriver

extension APIHandler {
    func updateEndpoint(_ input: Operations.UpdateEndpoint.Input) async throws -> Operations.UpdateEndpoint.Output {
        let app = try Caller.scope(input.path.appId)
        guard case .json(let body) = input.body else { throw APIProblem.notFound("route") }
        var change = EndpointStore.SettingsChange()
        change.description = body.description
        // An empty list means "every type" / "every message", as `herald endpoints set --types all` does.
        change.eventTypes = body.eventTypes.map { $0.isEmpty || $0 == ["*"] ? nil : $0 }
        change.channels = body.channels.map { $0.isEmpty ? nil : $0 }
        change.setHeaders = body.headers?.additionalProperties ?? [:]
        change.removeHeaders = body.removeHeaders ?? []
        change.maxAttempts = body.maxAttempts.map { .some($0) }
        let id = input.path.endpointId
        let settings = change
        let updated = try await ownedEndpoint(id, of: app) { store, conn in try await store.update(String(id), application: app, settings, on: conn) }
        return .ok(.init(body: .json(.init(updated))))
    }

    func disableEndpoint(_ input: Operations.DisableEndpoint.Input) async throws -> Operations.DisableEndpoint.Output {
        let app = try Caller.scope(input.path.appId)
        guard case .json(let body) = input.body else { throw APIProblem.notFound("route") }
        let id = input.path.endpointId
        let reason = body.reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty else {
            throw APIProblem(.init(code: 422), code: "invalid_input", "reason must say why the endpoint is disabled", field: "reason")
        }
        let endpoint = try await ownedEndpoint(id, of: app) { store, conn in
            try await store.setEnabled(String(id), application: app, enabled: false, reason: reason, on: conn).endpoint
        }
        return .ok(.init(body: .json(.init(endpoint))))
    }

    func enableEndpoint(_ input: Operations.EnableEndpoint.Input) async throws -> Operations.EnableEndpoint.Output {
        let app = try Caller.scope(input.path.appId)
        var replaySince: Date?
        if case .json(let body) = input.body { replaySince = body.replaySince }
        let since = replaySince
        let id = input.path.endpointId
        let schema = self.schema
        let (endpoint, changed, report) = try await ownedEndpoint(id, of: app) { store, conn in
            let (endpoint, changed) = try await store.setEnabled(String(id), application: app, enabled: true, reason: nil, on: conn)
            var report: DeliveryAdminStore.ChangeReport?
            if let since {
                report = try await DeliveryAdminStore(schema: schema).replay(
                    ids: nil, filter: .init(states: [.failed, .dead], endpoint: String(endpoint.id), finishedSince: .at(since)), on: conn)
            }
            return (endpoint, changed, report)
        }
        return .ok(.init(body: .json(.init(
            endpoint: .init(endpoint), changed: changed, replayed: report?.changed ?? [],
            skipped: (report?.skipped ?? []).map { .init(id: $0.id, state: $0.state, reason: $0.reason) }))))
    }

    func rotateEndpointSecret(_ input: Operations.RotateEndpointSecret.Input) async throws -> Operations.RotateEndpointSecret.Output {
        let app = try Caller.scope(input.path.appId)
        var graceSeconds = 86_400
        if case .json(let body) = input.body, let asked = body.graceSeconds { graceSeconds = asked }
        let id = input.path.endpointId
        var rng = SystemRandomNumberGenerator()
        let secret = WebhookSecret.generate(using: &rng)
        let grace = Duration.seconds(graceSeconds)
        guard EndpointStore.graceRange.contains(grace) else {
            throw APIProblem(
                .init(code: 422), code: "invalid_input",
                "graceSeconds must be 60 to 2592000 (1 minute to 30 days): the old secret keeps signing that long", field: "graceSeconds")
        }
        let until = try await ownedEndpoint(id, of: app) { store, conn in
            try await store.rotateSecret(String(id), application: app, to: secret, grace: grace, on: conn)
        }
        return .ok(.init(body: .json(.init(secret: secret.encoded, previousSecretExpiresAt: until))))
    }

    /// Runs `body` on endpoint `id` of `app`; 404 alike when the endpoint does not exist or belongs to
    /// another application.
    func ownedEndpoint<T: Sendable>(
        _ id: Int64, of app: String, _ body: @Sendable (EndpointStore, PGConnection) async throws -> T
    ) async throws -> T {
        let store = EndpointStore(schema: schema, keys: keys)
        do {
            return try await database { conn in
                _ = try await store.find(String(id), application: app, on: conn)
                return try await body(store, conn)
            }
        } catch let error as HeraldError where error.code == .notFound {
            throw APIProblem.notFound("endpoint \(id)")
        }
    }
}
