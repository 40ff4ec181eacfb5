internal import Hummingbird
internal import NIOCore

/// Refuses request bodies over ``APIServer/maximumRequestBytes`` with 413 problem+json, before the
/// generated code reads them (it would collect any size).
struct BodyLimitMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var request = request
        let limit = context.maxUploadSize
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw Self.tooLarge(limit)
        }
        do {
            _ = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw Self.tooLarge(limit)
        }
        return try await next(request, context)
    }

    static func tooLarge(_ limit: Int) -> APIProblem {
        APIProblem(
            .contentTooLarge, code: "payload_too_large",
            "the request body is over \(limit) bytes: send a smaller payload (e.g. a reference the receiver fetches)", field: "payload")
    }
}
