internal import Foundation
public import HTTPTypes
public import Hummingbird
public import OpenAPIRuntime
internal import Herald

/// An error answer of the API: an RFC 9457 `application/problem+json` document.
///
/// Why one type for every error: a client handles one shape (`code` to branch on, `detail` to show a
/// person, `field` to highlight), and both layers that can fail a request render it the same way: the
/// Hummingbird middlewares (authentication, body size) and the generated handlers (through
/// ``HTTPResponseConvertible``, which the OpenAPI runtime honours).
public struct APIProblem: Error, Sendable, Equatable, CustomStringConvertible {
    /// The HTTP status.
    public var status: HTTPResponse.Status
    /// Stable and machine-readable: `invalid_input`, `not_found`, `unauthorized`, …
    public var code: String
    /// What went wrong and what to do, for a person.
    public var detail: String
    /// The request field at fault (a body property, query parameter, path parameter or header), if one is.
    public var field: String?
    /// Extra response headers (`Retry-After`).
    public var headers: [String: String] = [:]

    public init(_ status: HTTPResponse.Status, code: String, _ detail: String, field: String? = nil) {
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field
    }

    public var description: String { "\(status.code) \(code): \(detail)" }

    /// The status's reason phrase; HTTPTypes has none for a status made from a bare code (422).
    var title: String {
        if !status.reasonPhrase.isEmpty { return status.reasonPhrase }
        return [413: "Content Too Large", 422: "Unprocessable Content", 429: "Too Many Requests"][status.code] ?? "Error"
    }

    /// The problem document's bytes.
    public var body: [UInt8] {
        let object: [String: Any] = [
            "type": "https://herald.dev/problems/\(code.replacingOccurrences(of: "_", with: "-"))",
            "title": title, "status": status.code, "detail": detail, "code": code,
            "field": field ?? NSNull(),
        ]
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
    }

    /// 404 in the words every missing-or-foreign resource gets: an application token must not learn that
    /// another application's resource exists.
    public static func notFound(_ what: String) -> APIProblem {
        APIProblem(.notFound, code: "not_found", "no \(what) here: check the id, and that your token is for its application")
    }

    /// 401 for a missing, malformed, unknown, expired or revoked token: the client cannot tell them
    /// apart, so a guesser learns nothing.
    public static let unauthorized = APIProblem(
        .unauthorized, code: "unauthorized",
        "a valid API token is required: send Authorization: Bearer hrld_… (`herald tokens create` makes one)")

    /// The problem for an error of Herald's core: invalid input is 422 with the database's own message
    /// and hint (the SQL functions are the one source of the rules); `fields` maps words of the message to
    /// the request field they are about.
    static func from(_ error: HeraldError, fields: [(String, String)] = []) -> APIProblem {
        switch error.code {
        case .invalidInput:
            // The field the message is about is named first: "invalid event type …. The application id is …".
            let lower = error.message.lowercased()
            let field = fields.compactMap { word, field in lower.range(of: word).map { ($0.lowerBound, field) } }
                .min { $0.0 < $1.0 }?.1
            return APIProblem(.init(code: 422), code: "invalid_input", error.message, field: field)
        case .notFound:
            return notFound("such resource")
        case .conflict:
            return APIProblem(.conflict, code: "conflict", error.message)
        default:
            return APIProblem(.serviceUnavailable, code: "database_unavailable", "the database failed the request; retry later")
        }
    }
}

extension APIProblem: HTTPResponseConvertible {
    public var httpStatus: HTTPResponse.Status { status }
    public var httpHeaderFields: HTTPFields {
        var fields = HTTPFields()
        fields[.contentType] = "application/problem+json"
        for (name, value) in headers { if let name = HTTPField.Name(name) { fields[name] = value } }
        return fields
    }
    public var httpBody: OpenAPIRuntime.HTTPBody? { HTTPBody(body) }
}

extension APIProblem: HTTPResponseError {
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: status, headers: httpHeaderFields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}
