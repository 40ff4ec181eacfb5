internal import Foundation
internal import Herald

extension APIHandler {
    func listDeliveries(_ input: Operations.ListDeliveries.Input) async throws -> Operations.ListDeliveries.Output {
        let caller = try Caller.required()
        let query = input.query
        let limit = try PageCursor.limit(query.limit)
        let before = try PageCursor.decodeID(query.iterator, list: "deliveries")
        var application = query.application
        if let own = caller.application {
            if let asked = application, asked != own { throw APIProblem.notFound("application \(asked)") }
            application = own
        }
        let filter = DeliveryAdminStore.Filter(
            states: query.state.flatMap { DeliveryState(rawValue: $0.rawValue) }.map { [$0] } ?? [],
            endpoint: query.endpoint.map { String($0) }, application: application)
        let page = try await database {
            try await DeliveryAdminStore(schema: schema).deliveryPage(filter, createdSince: query.since, before: before, limit: limit, on: $0)
        }
        let next = Self.continuation(list: "deliveries", hasMore: page.hasMore, lastKey: page.items.last.map { String($0.id) })
        return .ok(.init(body: .json(.init(data: page.items.map { .init($0) }, iterator: next.iterator, done: next.done))))
    }

    func getDelivery(_ input: Operations.GetDelivery.Input) async throws -> Operations.GetDelivery.Output {
        let id = try await ownedDelivery(input.path.deliveryId)
        let (delivery, attempts) = try await database { try await DeliveryAdminStore(schema: schema).show(id: id, on: $0) }
        return .ok(.init(body: .json(.init(delivery: .init(delivery), attempts: attempts.map { .init($0) }))))
    }

    func replayDelivery(_ input: Operations.ReplayDelivery.Input) async throws -> Operations.ReplayDelivery.Output {
        let id = try await ownedDelivery(input.path.deliveryId)
        let report = try await database { try await DeliveryAdminStore(schema: schema).replay(ids: [id], filter: .init(), on: $0) }
        return .ok(.init(body: .json(.init(report))))
    }

    func cancelDelivery(_ input: Operations.CancelDelivery.Input) async throws -> Operations.CancelDelivery.Output {
        let id = try await ownedDelivery(input.path.deliveryId)
        let report = try await database { try await DeliveryAdminStore(schema: schema).cancel(ids: [id], filter: .init(), on: $0) }
        return .ok(.init(body: .json(.init(report))))
    }

    func retryDeliveryNow(_ input: Operations.RetryDeliveryNow.Input) async throws -> Operations.RetryDeliveryNow.Output {
        let id = try await ownedDelivery(input.path.deliveryId)
        let report = try await database { try await DeliveryAdminStore(schema: schema).retryNow(ids: [id], filter: .init(), on: $0) }
        return .ok(.init(body: .json(.init(report))))
    }

    /// `id` if the delivery exists and the caller may see it; 404 alike for missing and foreign ones.
    func ownedDelivery(_ id: Int64) async throws -> Int64 {
        let caller = try Caller.required()
        let owner = try await database { try await DeliveryAdminStore(schema: schema).deliveryApplication(id: id, on: $0) }
        guard let owner, caller.application == nil || caller.application == owner else { throw APIProblem.notFound("delivery \(id)") }
        return id
    }
}

extension Components.Schemas.Delivery {
    init(_ d: DeliveryAdminStore.Delivery) {
        self.init(
            id: d.id, state: .init(rawValue: d.state) ?? .pending, applicationId: d.applicationID, endpointId: d.endpointID,
            messageId: d.messageID, url: d.url, eventType: d.eventType, eventId: d.eventID, attempts: d.attempts,
            nextAttemptAt: d.nextAttemptAt, lastStatus: d.lastStatus, lastError: d.lastError, createdAt: d.createdAt,
            finishedAt: d.finishedAt, payloadPruned: d.payloadPruned)
    }
}

extension Components.Schemas.Attempt {
    init(_ a: DeliveryAdminStore.Attempt) {
        self.init(
            attempt: a.attempt, startedAt: a.startedAt, durationMs: a.durationMs, statusCode: a.statusCode, outcome: a.outcome,
            error: a.error, responseExcerpt: a.responseExcerpt, workerId: a.workerID)
    }
}

extension Components.Schemas.ChangeReport {
    init(_ r: DeliveryAdminStore.ChangeReport) {
        self.init(changed: r.changed, skipped: r.skipped.map { .init(id: $0.id, state: $0.state, reason: $0.reason) })
    }
}
