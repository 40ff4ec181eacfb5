internal import Herald

extension APIHandler {
    func listBreakers(_ input: Operations.ListBreakers.Input) async throws -> Operations.ListBreakers.Output {
        try Caller.requireAdmin("route")
        let breakers = try await database { try await BreakerStore(schema: schema).list(on: $0) }
        return .ok(.init(body: .json(.init(data: breakers.map { b in
            .init(
                key: b.key, state: .init(rawValue: b.state) ?? .open, consecutiveFailures: b.consecutiveFailures, trips: b.trips,
                openUntil: b.openUntil, pendingDeliveries: b.pendingDeliveries, updatedAt: b.updatedAt)
        }))))
    }

    func resetBreaker(_ input: Operations.ResetBreaker.Input) async throws -> Operations.ResetBreaker.Output {
        try Caller.requireAdmin("route")
        let key = input.path.key
        let found = try await database { try await BreakerStore(schema: schema).reset(key: key, on: $0) }
        guard found else { throw APIProblem.notFound("breaker \(key)") }
        return .noContent(.init())
    }

    func getStatus(_ input: Operations.GetStatus.Input) async throws -> Operations.GetStatus.Output {
        let caller = try Caller.required()
        let s = try await database { try await StatusStore(schema: schema).status(application: caller.application, on: $0) }
        return .ok(.init(body: .json(.init(
            states: .init(additionalProperties: s.states), lagSeconds: s.lagSeconds, due: s.due, deliveredPerMinute: s.deliveredPerMinute,
            attemptsPerMinute: s.attemptsPerMinute, openBreakers: s.openBreakers, liveWorkers: s.liveWorkers))))
    }
}
