internal import Herald

extension APIHandler {
    /// `DELETE …/endpoints/{id}`: a soft delete (``EndpointStore/delete(_:application:on:)``); 204, or 404
    /// for an endpoint that does not exist, is another application's, or was deleted already.
    func deleteEndpoint(_ input: Operations.DeleteEndpoint.Input) async throws -> Operations.DeleteEndpoint.Output {
        let app = try Caller.scope(input.path.appId)
        let id = input.path.endpointId
        _ = try await ownedEndpoint(id, of: app) { store, conn in try await store.delete(String(id), application: app, on: conn) }
        return .noContent(.init())
    }

    /// `POST …/endpoints/{id}/test`: one test event to this endpoint only; 202 with the message and the
    /// delivery to follow.
    func sendEndpointTest(_ input: Operations.SendEndpointTest.Input) async throws -> Operations.SendEndpointTest.Output {
        let app = try Caller.scope(input.path.appId)
        var eventType = EndpointStore.testEventType
        if case .json(let body) = input.body, let asked = body.eventType { eventType = asked }
        let id = input.path.endpointId
        let type = eventType
        let queued = try await ownedEndpoint(id, of: app) { store, conn in
            try await store.sendTest(String(id), application: app, eventType: type, on: conn)
        }
        return .accepted(.init(body: .json(.init(messageId: queued.messageID, deliveryId: queued.deliveryID))))
    }
}
