import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Plain HTTP against a `herald serve` on 127.0.0.1, as any client of the API would speak it.
public struct APIClient: Sendable {
    public let base: String

    public init(port: Int) { base = "http://127.0.0.1:\(port)" }

    /// An answer: status, headers (lower-cased names) and the body parsed as JSON when it is.
    public struct Answer: Sendable, CustomStringConvertible {
        public var status: Int
        public var headers: [String: String]
        public var body: Data
        public var text: String { String(decoding: body, as: UTF8.self) }
        /// The body as a JSON object, or an empty one.
        public var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]) ?? [:] }
        public var description: String { "\(status) \(text.prefix(500))" }
    }

    /// Sends one request; `json` is encoded as the body, `raw` sent as is.
    public func send(
        _ method: String, _ path: String, token: String? = nil, json: Any? = nil, raw: Data? = nil, headers: [String: String] = [:]
    ) async throws -> Answer {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = method
        request.timeoutInterval = 30
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let json {
            request.httpBody = try JSONSerialization.data(withJSONObject: json)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        } else if let raw {
            request.httpBody = raw
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as? HTTPURLResponse
        var fields: [String: String] = [:]
        for (key, value) in http?.allHeaderFields ?? [:] {
            if let key = key as? String, let value = value as? String { fields[key.lowercased()] = value }
        }
        return Answer(status: http?.statusCode ?? 0, headers: fields, body: data)
    }
}
