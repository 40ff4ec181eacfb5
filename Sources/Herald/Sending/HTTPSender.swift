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
    let addressPolicy: AddressPolicy

    /// What a send produced.
    struct Outcome: Sendable {
        var result: AttemptResult
        var excerpt: String?
    }

    init(
        connectTimeout: Duration, totalTimeout: Duration, responseLimit: Int, excerptLimit: Int, maxConnectionsPerHost: Int,
        addressPolicy: AddressPolicy
    ) {
        self.addressPolicy = addressPolicy
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

    /// Where a request may go after the SSRF check: the URL to connect to and, when it was pinned to the
    /// checked IP address, the `Host` header to send.
    private enum Target {
        case send(url: String, host: String?)
        case refuse(String)
    }

    private func checkedTarget(_ url: String) async -> Target {
        guard !addressPolicy.allowPrivateNetworks else { return .send(url: url, host: nil) }
        guard var components = URLComponents(string: url), let rawHost = components.host, let scheme = components.scheme?.lowercased() else {
            return .refuse("refused: the URL has no host")
        }
        let host = rawHost.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let isLiteral = AddressPolicy.parseIPv4(host) != nil || AddressPolicy.parseIPv6(host) != nil
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        guard let addresses = isLiteral ? [host] : try? await AddressResolver.resolve(host, port: port), let first = addresses.first else {
            return .send(url: url, host: nil)  // resolution failed: the client reports the connection error (retryable)
        }
        if let refusal = addresses.lazy.compactMap(addressPolicy.refusal).first {
            return .refuse("refused to send to \(host): \(refusal); non-global addresses need --allow-private-networks")
        }
        // Plain http connects to the very address that was checked (no second lookup to rebind); https
        // keeps the name for certificate verification, which a rebound internal host cannot pass.
        guard scheme == "http", !isLiteral else { return .send(url: url, host: nil) }
        components.host = first.contains(":") ? "[\(first)]" : first
        return .send(url: components.string ?? url, host: components.port.map { "\(host):\($0)" } ?? host)
    }

    /// POSTs `body` with `headers` to `url`, within the total timeout.
    func send(url: String, headers: [(String, String)], body: [UInt8]) async -> Outcome {
        let target: (url: String, host: String?)
        switch await checkedTarget(url) {
        case .refuse(let reason): return Outcome(result: .refused(reason), excerpt: nil)
        case .send(let url, let host): target = (url, host)
        }
        var request = HTTPClientRequest(url: target.url)
        request.method = .POST
        if let host = target.host { request.headers.add(name: "Host", value: host) }
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
        // Bounded here; redacted once, with the endpoint's secrets, when the attempt is recorded.
        return String(String(decoding: bytes.prefix(excerptLimit * 4), as: UTF8.self).prefix(excerptLimit))
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
