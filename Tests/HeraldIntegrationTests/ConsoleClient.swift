import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HeraldTestSupport

/// A browser as far as the console cares: it keeps the session cookie, does not follow redirects (the
/// tests check them), and sends forms with the `Origin` a page of the console would.
final class ConsoleClient: @unchecked Sendable {
    let base: String
    /// The `herald_console` cookie's value, once set (guarded by the tests' sequential use).
    var session: String?

    init(port: Int) { base = "http://127.0.0.1:\(port)" }

    struct Answer: CustomStringConvertible {
        var status: Int
        var headers: [String: String]
        var text: String
        var description: String { "\(status) \(headers["location"] ?? "") \(text.prefix(800))" }
    }

    /// Refuses every redirect, so the 303 itself is the answer.
    private final class NoRedirects: NSObject, URLSessionTaskDelegate, Sendable {
        func urlSession(
            _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse, newRequest request: URLRequest,
            completionHandler: @escaping @Sendable (URLRequest?) -> Void
        ) { completionHandler(nil) }
    }

    private lazy var urlSession: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpShouldSetCookies = false
        configuration.httpCookieAcceptPolicy = .never
        configuration.httpCookieStorage = nil
        return URLSession(configuration: configuration, delegate: NoRedirects(), delegateQueue: nil)
    }()

    func get(_ path: String) async throws -> Answer { try await send("GET", path, form: nil, origin: nil) }

    /// POSTs `form` URL-encoded with `Origin` (this server's own unless given; `""` sends none).
    func post(_ path: String, _ form: [(String, String)], origin: String? = nil) async throws -> Answer {
        try await send("POST", path, form: form, origin: origin ?? base)
    }

    private func send(_ method: String, _ path: String, form: [(String, String)]?, origin: String?) async throws -> Answer {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = method
        request.timeoutInterval = 30
        if let session { request.setValue("herald_console=\(session)", forHTTPHeaderField: "Cookie") }
        if let origin, !origin.isEmpty { request.setValue(origin, forHTTPHeaderField: "Origin") }
        if let form {
            var allowed = CharacterSet.alphanumerics
            allowed.insert(charactersIn: "-._~")
            let body = form.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&")
            request.httpBody = Data(body.utf8)
            request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await urlSession.data(for: request)
        let http = response as? HTTPURLResponse
        var headers: [String: String] = [:]
        for (key, value) in http?.allHeaderFields ?? [:] {
            if let key = key as? String, let value = value as? String { headers[key.lowercased()] = value }
        }
        if let cookie = headers["set-cookie"], let match = cookie.firstMatch(of: /herald_console=([^;]*)/) {
            session = match.output.1.isEmpty ? nil : String(match.output.1)
        }
        return Answer(status: http?.statusCode ?? 0, headers: headers, text: String(decoding: data, as: UTF8.self))
    }

    /// The session's form token, read from a console page (every signed-in page carries it).
    func formToken(on path: String = "/console/") async throws -> String {
        let page = try await get(path)
        guard let match = page.text.firstMatch(of: /name="csrf" value="([0-9a-f]+)"/) else { throw TestSupportError("no form token on \(path): \(page)") }
        return String(match.output.1)
    }
}
