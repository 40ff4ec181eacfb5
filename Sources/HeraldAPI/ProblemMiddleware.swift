internal import Foundation
internal import HTTPTypes
internal import OpenAPIRuntime
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
            if problem.field == nil, ["invalid_input", "bad_request"].contains(problem.code),
               let name = Self.parameterAtFault(error.underlyingError, request: request, metadata: metadata) {
                problem = APIProblem(
                    .init(code: 422), code: "invalid_input", "parameter \(name) is not valid: see GET /openapi.yaml for its type", field: name)
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

    /// The path or query parameter a decoding failure is about. The runtime's errors for parameters
    /// name neither the parameter nor (for a wrong type) the value, so: for a type mismatch, the last
    /// parameter (in the order of the URL) whose value is not of that type (ids nest after `appId`, query
    /// after path); otherwise the parameter whose value the error quotes (`Cannot parse yesterday`).
    static func parameterAtFault(_ error: any Error, request: HTTPRequest, metadata: ServerRequestMetadata) -> String? {
        let path = request.path ?? ""
        let positioned = metadata.pathParameters.map { (name: $0.key, value: String($0.value)) }
            .sorted { (path.range(of: "/" + $0.value)?.lowerBound ?? path.endIndex) < (path.range(of: "/" + $1.value)?.lowerBound ?? path.endIndex) }
        let query = URLComponents(string: path)?.queryItems?.compactMap { item in item.value.map { (name: item.name, value: $0) } } ?? []
        let candidates = positioned + query
        if case .typeMismatch(let type, _)? = unwrapDecoding(error), let convertible = type as? any LosslessStringConvertible.Type {
            return candidates.last { convertible.init($0.value) == nil }?.name
        }
        let text = String(describing: error)
        return candidates.last { !$0.value.isEmpty && (text.contains("value \($0.value)") || text.contains("parse \($0.value)")) }?.name
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
        "sendEndpointTest": [("is disabled", "endpointId"), ("event type", "eventType")],
        "publishMessage": [
            ("application id", "appId"), ("application", "appId"), ("event type", "eventType"), ("event id", "Idempotency-Key"),
            ("channel", "channels"), ("header", "headers"), ("body", "payload"), ("content type", "contentType"),
        ],
    ]

    private static func unwrapDecoding(_ error: any Error) -> DecodingError? {
        if let decoding = error as? DecodingError { return decoding }
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
