internal import Foundation
public import HTTPTypes
public import OpenAPIRuntime
internal import Herald
internal import PGDriver

/// Turns every error of a generated handler into a problem+json answer.
///
/// Why here and not in each handler: the generated code wraps what a handler throws (and its own
/// decoding failures) in ``ServerError``; one place unwraps it, so a store's ``HeraldError`` (the SQL
/// functions' 22023 message and hint) becomes 422 with the field it is about, the same way for every
/// route.
struct ProblemMiddleware: ServerMiddleware {
    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        do {
            return try await next(request, body, metadata)
        } catch let error as ServerError {
            var problem = Self.problem(for: error.underlyingError, operationID: operationID)
            if problem.code == "invalid_input", problem.field == nil, let name = Self.queryItem(named: problem.detail, in: request.path) {
                problem.field = name
                problem.detail = "query parameter \(name) is not valid (\(problem.detail.prefix(200))): see GET /openapi.yaml"
            }
            return (HTTPResponse(status: problem.status, headerFields: problem.httpHeaderFields), problem.httpBody)
        }
    }

    /// The problem for `error`, thrown while serving `operationID`.
    static func problem(for error: any Error, operationID: String) -> APIProblem {
        switch error {
        case let problem as APIProblem:
            return problem
        case let error as HeraldError:
            return APIProblem.from(error, fields: fields[operationID] ?? [])
        case let error as DecodingError:
            return decodingProblem(error)
        case is PGError:
            return APIProblem(.serviceUnavailable, code: "database_unavailable", "the database failed the request; retry later")
        default:
            if let underlying = (error as? ServerError)?.underlyingError { return problem(for: underlying, operationID: operationID) }
            if let decoding = unwrapDecoding(error) { return decodingProblem(decoding) }
            return APIProblem(
                .badRequest, code: "bad_request",
                "the request does not match the API (\(String(describing: error).prefix(300))): see GET /openapi.yaml")
        }
    }

    /// The query parameter whose value a decoding failure quotes (the runtime's errors for query
    /// parameters carry the value, not the parameter's name).
    static func queryItem(named detail: String, in path: String?) -> String? {
        guard let path, let components = URLComponents(string: path) else { return nil }
        return components.queryItems?.first { item in
            guard let value = item.value, !value.isEmpty else { return false }
            return detail.contains("value \(value)") || detail.contains("\"\(value)\"")
        }?.name
    }

    /// Request fields by words of the database's messages, per operation: which field a 422 is about.
    static let fields: [String: [(String, String)]] = [
        "createApplication": [("application id", "id"), ("name", "name"), ("retention", "retentionDays")],
        "updateApplication": [("name", "name"), ("retention", "retentionDays")],
        "createEndpoint": [
            ("url", "url"), ("event type", "eventTypes"), ("channel", "channels"), ("header", "headers"), ("max attempts", "maxAttempts"),
        ],
        "updateEndpoint": [
            ("description", "description"), ("event type", "eventTypes"), ("channel", "channels"), ("header", "headers"),
            ("max-attempts", "maxAttempts"), ("max attempts", "maxAttempts"),
        ],
        "publishMessage": [
            ("application id", "appId"), ("application", "appId"), ("event type", "eventType"), ("event id", "Idempotency-Key"),
            ("channel", "channels"), ("header", "headers"), ("body", "payload"), ("content type", "contentType"),
        ],
    ]

    private static func unwrapDecoding(_ error: any Error) -> DecodingError? {
        let mirror = Mirror(reflecting: error)
        for child in mirror.children {
            if let decoding = child.value as? DecodingError { return decoding }
            if let nested = child.value as? any Error, let found = unwrapDecoding(nested) { return found }
        }
        return nil
    }

    private static func decodingProblem(_ error: DecodingError) -> APIProblem {
        let path: [any CodingKey]
        let reason: String
        switch error {
        case .keyNotFound(let key, let context):
            path = context.codingPath + [key]
            reason = "is required"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            path = context.codingPath
            reason = "has the wrong type"
        case .dataCorrupted(let context):
            path = context.codingPath
            reason = "is not valid (\(context.debugDescription))"
        @unknown default:
            path = []
            reason = "is not valid"
        }
        let field = path.map(\.stringValue).filter { !$0.isEmpty }.joined(separator: ".")
        let name = field.isEmpty ? "the request body" : field
        return APIProblem(.init(code: 422), code: "invalid_input", "\(name) \(reason): see GET /openapi.yaml for the schema",
                          field: field.isEmpty ? nil : field)
    }
}
