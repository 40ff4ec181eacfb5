internal import Hummingbird
internal import NIOCore

/// Refuses request bodies over ``APIServer/maximumRequestBytes`` with 413 problem+json, before the
/// generated code reads them (it would collect any size); an empty POST or PATCH body is read as `{}`.
///
/// Why `{}`: `curl -X POST …/enable` sends no body, which means "no options"; the generated code would
/// try to parse the empty bytes as JSON and refuse them. As `{}`, optional bodies get their defaults and
/// required ones a 422 naming the missing field.
struct BodyLimitMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var request = request
        let limit = context.maxUploadSize
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw Self.tooLarge(limit)
        }
        let collected: ByteBuffer
        do {
            collected = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw Self.tooLarge(limit)
        }
        if collected.readableBytes == 0, [.post, .patch, .put].contains(request.method) {
            var head = request.head
            head.headerFields[.contentType] = "application/json"
            request = Request(head: head, body: RequestBody(buffer: ByteBuffer(string: "{}")))
        }
        return try await next(request, context)
    }

    static func tooLarge(_ limit: Int) -> APIProblem {
        APIProblem(
            .contentTooLarge, code: "payload_too_large",
            "the request body is over \(limit) bytes: send a smaller payload (e.g. a reference the receiver fetches)", field: "payload")
    }
}
