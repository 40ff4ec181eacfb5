internal import Foundation
internal import Herald
internal import Tracing

extension APIHandler {
    func publishMessage(_ input: Operations.PublishMessage.Input) async throws -> Operations.PublishMessage.Output {
        let app = try Caller.scope(input.path.appId)
        guard case .json(let body) = input.body else { throw APIProblem.notFound("route") }
        // The payload is re-encoded with sorted keys: the same JSON value always becomes the same bytes.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let payload = Array(try encoder.encode(body.payload))
        let request = PublishRequest(
            application: app, eventType: body.eventType, payload: payload, eventID: input.headers.idempotencyKey,
            channels: body.channels ?? [], headers: body.headers?.additionalProperties ?? [:],
            traceparent: Self.producerTraceparent(input.headers.traceparent))
        let outcome = try await database { try await WebhookQueue(schema: schema).publish(request, on: $0) }
        return .accepted(.init(body: .json(.init(messageId: outcome.messageID, duplicate: outcome.duplicate, queued: outcome.queued))))
    }

    /// The trace the published message continues: this request's server span when a tracer is bootstrapped
    /// (its parent is the caller's `traceparent`), else the caller's `traceparent` as sent.
    static func producerTraceparent(_ sent: String?) -> String? {
        ServiceContext.current.flatMap(TraceCarrier.traceparent(of:)) ?? sent
    }

    func listMessages(_ input: Operations.ListMessages.Input) async throws -> Operations.ListMessages.Output {
        let app = try Caller.scope(input.path.appId)
        let limit = try PageCursor.limit(input.query.limit)
        let before = try PageCursor.decodeID(input.query.iterator, list: "messages")
        _ = try await find(app)
        let page = try await database { try await MessageStore(schema: schema).messagePage(application: app, before: before, limit: limit, on: $0) }
        let next = Self.continuation(list: "messages", hasMore: page.hasMore, lastKey: page.items.last.map { String($0.id) })
        return .ok(.init(body: .json(.init(data: page.items.map { .init($0) }, iterator: next.iterator, done: next.done))))
    }

    func getMessage(_ input: Operations.GetMessage.Input) async throws -> Operations.GetMessage.Output {
        let app = try Caller.scope(input.path.appId)
        let id = input.path.messageId
        let store = MessageStore(schema: schema)
        let found = try await database { conn -> (MessageStore.Message, [MessageStore.EndpointDelivery])? in
            guard try await store.messageBelongs(id: id, to: app, on: conn) else { return nil }
            return try await store.show(id: id, on: conn)
        }
        guard let (message, deliveries) = found else { throw APIProblem.notFound("message \(id)") }
        return .ok(.init(body: .json(.init(
            message: .init(message),
            deliveries: deliveries.map {
                .init(deliveryId: $0.deliveryID, endpointId: $0.endpointID, url: $0.url, state: .init(rawValue: $0.state) ?? .pending,
                      attempts: $0.attempts, lastStatus: $0.lastStatus, finishedAt: $0.finishedAt)
            }))))
    }
}

extension Components.Schemas.Message {
    init(_ m: MessageStore.Message) {
        self.init(
            id: m.id, applicationId: m.applicationID, eventType: m.eventType, eventId: m.eventID, channels: m.channels,
            contentType: m.contentType, sizeBytes: m.sizeBytes, deliveries: m.deliveries, createdAt: m.createdAt)
    }
}
