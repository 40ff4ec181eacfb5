internal import AsyncHTTPClient
internal import Foundation
internal import NIOCore
internal import NIOHTTP1

/// Sends one webhook request and reports what happened, never throwing.
///
/// One shared `HTTPClient` per worker keeps connections to each endpoint alive between deliveries.
/// Redirects are not followed (a 3xx is a failure: following one would send the signed body somewhere
/// the endpoint's owner did not register). The response body is read up to `responseLimit` bytes and
/// the rest is dropped; only an excerpt is kept.
final class HTTPSender: Sendable {
    let client: HTTPClient
    let totalTimeout: Duration
    let responseLimit: Int
    let excerptLimit: Int

    /// What a send produced.
    struct Outcome: Sendable {
        var result: AttemptResult
        var excerpt: String?
    }

    init(connectTimeout: Duration, totalTimeout: Duration, responseLimit: Int, excerptLimit: Int, maxConnectionsPerHost: Int) {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .nanoseconds(Int64(connectTimeout.seconds * 1e9)), read: .nanoseconds(Int64(totalTimeout.seconds * 1e9))),
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: maxConnectionsPerHost),
            decompression: .disabled)
        configuration.httpVersion = .http1Only
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        self.totalTimeout = totalTimeout
        self.responseLimit = responseLimit
        self.excerptLimit = excerptLimit
    }

    func shutdown() async {
        try? await client.shutdown()
    }

    /// POSTs `body` with `headers` to `url`, within the total timeout.
    func send(url: String, headers: [(String, String)], body: [UInt8]) async -> Outcome {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let prepared = request
        let deadline = NIODeadline.now() + .nanoseconds(Int64(totalTimeout.seconds * 1e9))
        let limit = responseLimit
        let total = totalTimeout
        do {
            // The whole exchange, body included, races the total timeout.
            return try await withThrowingTaskGroup(of: Outcome?.self) { group in
                group.addTask {
                    let response = try await self.client.execute(prepared, deadline: deadline)
                    var collected: [UInt8] = []
                    for try await chunk in response.body {
                        collected.append(contentsOf: chunk.readableBytesView.prefix(limit - collected.count))
                        if collected.count >= limit { break }
                    }
                    return Outcome(
                        result: .response(status: Int(response.status.code), retryAfter: response.headers.first(name: "retry-after")),
                        excerpt: self.excerpt(collected))
                }
                group.addTask {
                    try await Task.sleep(for: total)
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                return first ?? Outcome(result: .timeout("no complete response within \(Self.format(total))"), excerpt: nil)
            }
        } catch {
            return Outcome(result: classify(error), excerpt: nil)
        }
    }

    private func excerpt(_ bytes: [UInt8]) -> String? {
        guard !bytes.isEmpty else { return nil }
        return Redactor.redact(String(decoding: bytes.prefix(excerptLimit * 4), as: UTF8.self), limit: excerptLimit)
    }

    private func classify(_ error: any Error) -> AttemptResult {
        if let e = error as? HTTPClientError {
            if e == .deadlineExceeded || e == .readTimeout || e == .connectTimeout || e == .writeTimeout {
                return .timeout("timed out (\(e)) within \(Self.format(totalTimeout))")
            }
            return .connectionError(Redactor.redact("HTTP client error: \(e)", limit: 512))
        }
        if error is CancellationError {
            return .connectionError("send cancelled (worker shutting down)")
        }
        return .connectionError(Redactor.redact("connection error: \(error)", limit: 512))
    }

    static func format(_ d: Duration) -> String {
        let s = d.seconds
        return s == s.rounded() ? "\(Int(s))s" : String(format: "%.1fs", s)
    }
}
