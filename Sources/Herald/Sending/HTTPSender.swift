internal import AsyncHTTPClient
internal import Foundation
internal import NIOCore
internal import NIOHTTP1

/// Sends one webhook request and reports what happened, never throwing and never trapping.
///
/// The order of a send, all of it inside the request timeout:
/// 1. parse the stored URL as a ``WebhookURL`` and check the headers with ``HeaderCheck`` (a bad one is a
///    permanent failure, at once);
/// 2. resolve the host with the injected ``AddressResolver`` (a failed or empty lookup is a retryable
///    connection error: nothing is sent to a name that was not checked);
/// 3. check every address with the ``AddressPolicy`` (one refused address refuses the send);
/// 4. connect to a checked address through ``PinnedClients`` (SNI, certificate and `Host` keep the name),
///    trying the next address only when a connection could not be made at all.
///
/// Redirects are not followed (a 3xx is a failure: following one would send the signed body somewhere
/// the endpoint's owner did not register). A refused connection fails at once instead of being retried
/// inside the client until the connect timeout: the delivery's own retry schedule handles it. The
/// response body is read up to `responseLimit` bytes and the rest is dropped; only an excerpt is kept.
final class HTTPSender: Sendable {
    let clients: PinnedClients
    let totalTimeout: Duration
    let responseLimit: Int
    let excerptLimit: Int
    let addressPolicy: AddressPolicy
    let resolver: any AddressResolver

    /// What a send produced.
    struct Outcome: Sendable {
        var result: AttemptResult
        var excerpt: String?
    }

    init(
        connectTimeout: Duration, totalTimeout: Duration, responseLimit: Int, excerptLimit: Int, maxConnectionsPerHost: Int,
        addressPolicy: AddressPolicy, resolver: any AddressResolver = SystemAddressResolver(), pinnedClients: Int = 256
    ) {
        self.addressPolicy = addressPolicy
        self.resolver = resolver
        var pool = HTTPClient.Configuration.ConnectionPool(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: maxConnectionsPerHost)
        pool.retryConnectionEstablishment = false
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .nanoseconds(Int64(connectTimeout.seconds * 1e9)), read: .nanoseconds(Int64(totalTimeout.seconds * 1e9))),
            connectionPool: pool,
            decompression: .disabled)
        configuration.httpVersion = .http1Only
        // No client span of its own: Herald's `webhook.attempt` is the client span, with credentials removed
        // from `url.full` and the `traceparent` the receiver gets; the client's would record the raw URL.
        configuration.tracing.tracer = nil
        clients = PinnedClients(configuration: configuration, capacity: pinnedClients)
        self.totalTimeout = totalTimeout
        self.responseLimit = responseLimit
        self.excerptLimit = excerptLimit
    }

    func shutdown() async {
        await clients.shutdown()
    }

    /// POSTs `body` with `headers` to `url` with no start deadline; returns within the total timeout.
    func send(url: String, headers: [(String, String)], body: [UInt8]) async -> Outcome {
        // Without a start deadline the request always starts, so there is always an outcome.
        await send(url: url, headers: headers, body: body, startBy: nil)
            ?? Outcome(result: .connectionError("not sent"), excerpt: nil)
    }

    /// POSTs `body` with `headers` to `url`; returns within the total timeout, lookup included.
    ///
    /// `startBy`: the request must not start later than this (its lease could have ended by then, and
    /// another worker could send the same delivery); checked immediately before the request is handed to
    /// the client, and again when the client takes the body to write it, on the connection's event loop
    /// (``StartGate``, ``StartGatedBytes``).
    /// Returns nil, having sent no complete request, when it has passed (a worker frozen between its
    /// checks and the send, or a lookup that took that long).
    ///
    /// `timeout`: a shorter whole-request timeout for this send (an endpoint's own); never longer than the
    /// sender's, which the lease is sized by.
    func send(
        url: String, headers: [(String, String)], body: [UInt8], startBy: ContinuousClock.Instant?, timeout: Duration? = nil
    ) async -> Outcome? {
        let parsed: WebhookURL
        do {
            parsed = try WebhookURL(url)
        } catch {
            return Outcome(result: .refused("invalid URL: \(Redactor.redact(error.reason, limit: 256))"), excerpt: nil)
        }
        if let problem = headers.lazy.compactMap({ HeaderCheck.problem(name: $0.0, value: $0.1) }).first {
            return Outcome(result: .refused("invalid header: \(problem)"), excerpt: nil)
        }
        let total = min(timeout ?? totalTimeout, totalTimeout)
        // The body checks the deadline again once connected; an empty one goes with the head, unasked.
        let gate = startBy.flatMap { body.isEmpty ? nil : StartGate(startBy: $0) }
        switch await TimeLimit.run(within: total, { await self.checkedSend(parsed, headers: headers, body: body, startBy: startBy, gate: gate) }) {
        case .finished(let outcome): return outcome
        case .timedOut:
            // A worker frozen past the whole timeout: the timer can win the race against the refusal.
            if gate?.withheld == true { return nil }
            return Outcome(result: .timeout("no complete response within \(Self.format(total))"), excerpt: nil)
        case .cancelled: return Outcome(result: .connectionError("send cancelled (worker shutting down)"), excerpt: nil)
        }
    }

    /// Resolves, checks and sends; only ever connects to an address that passed the guard.
    private func checkedSend(
        _ url: WebhookURL, headers: [(String, String)], body: [UInt8], startBy: ContinuousClock.Instant?, gate: StartGate?
    ) async -> Outcome? {
        let host = url.hostText
        let addresses: [String?]
        if url.isAddressLiteral {
            if let refusal = addressPolicy.refusal(for: host) { return refused(host, refusal) }
            addresses = [nil]  // the URL names the checked address itself
        } else {
            let found: [String]
            do {
                found = try await resolver.resolve(host, port: url.port)
            } catch {
                if Task.isCancelled { return Outcome(result: .connectionError("send cancelled (worker shutting down)"), excerpt: nil) }
                return Outcome(result: .connectionError(Redactor.redact("cannot resolve \(host): \(error); will retry", limit: 512)), excerpt: nil)
            }
            // Only canonical address text goes on: the client must connect to exactly what was checked.
            let canonical = found.compactMap(Self.canonicalAddress)
            guard !canonical.isEmpty, canonical.count == found.count else {
                return Outcome(result: .connectionError("cannot resolve \(host): the lookup returned no usable address; will retry"), excerpt: nil)
            }
            if let refusal = canonical.lazy.compactMap(addressPolicy.refusal).first { return refused(host, refusal) }
            addresses = canonical
        }
        // The client parses the URL again; it must see the very host that was checked, or the pin is keyed
        // to a name it never looks up and it would resolve its own.
        guard let reparsed = URL(string: url.normalized)?.host?.trimmingCharacters(in: CharacterSet(charactersIn: "[]")),
            reparsed.lowercased() == host
        else {
            return Outcome(result: .refused("invalid URL: the host does not survive normalisation unchanged"), excerpt: nil)
        }
        var request = HTTPClientRequest(url: url.normalized)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let gate, body.count <= StartGatedBytes.largest {
            request.body = .bytes(StartGatedBytes(bytes: body, gate: gate), length: .known(Int64(body.count)))
        } else if let gate {
            request.body = .stream(StartGatedBody(bytes: ByteBuffer(bytes: body), gate: gate), length: .known(Int64(body.count)))
        } else {
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        var last = Outcome(result: .connectionError("no address to connect to"), excerpt: nil)
        for address in addresses.prefix(4) {
            do {
                return try await clients.withClient(host: host, address: address) { client in
                    try await self.exchange(request, on: client, startBy: startBy)
                }
            } catch is NotStarted {
                return nil
            } catch where gate?.withheld == true {
                return nil  // the body was never written: the receiver got no complete request
            } catch {
                last = Outcome(result: classify(error, address: address ?? host, port: url.port), excerpt: nil)
                // Another address helps only if this one could not even be connected to.
                guard Self.connectFailed(error), !Task.isCancelled else { return last }
            }
        }
        return last
    }

    private func refused(_ host: String, _ refusal: String) -> Outcome {
        Outcome(result: .refused("refused to send to \(host): \(refusal); non-global addresses need --allow-private-networks"), excerpt: nil)
    }

    /// One request and its (bounded) response.
    private func exchange(_ request: HTTPClientRequest, on client: HTTPClient, startBy: ContinuousClock.Instant?) async throws -> Outcome {
        // Past its start deadline, or its round gave up on it (the lease ended while a lookup ran): not sent.
        if Task.isCancelled { throw NotStarted() }
        if let startBy, ContinuousClock.now >= startBy { throw NotStarted() }
        let response = try await client.execute(request, deadline: .now() + .nanoseconds(Int64(totalTimeout.seconds * 1e9)))
        var collected: [UInt8] = []
        for try await chunk in response.body {
            collected.append(contentsOf: chunk.readableBytesView.prefix(responseLimit - collected.count))
            if collected.count >= responseLimit { break }
        }
        return Outcome(
            result: .response(status: Int(response.status.code), retryAfter: response.headers.first(name: "retry-after")),
            excerpt: excerpt(collected))
    }

    /// `text` as canonical IP text, or nil when it is not an IP address.
    static func canonicalAddress(_ text: String) -> String? {
        if let v4 = AddressPolicy.parseIPv4(text) { return AddressPolicy.formatIPv4(v4) }
        if !text.contains("%"), let v6 = AddressPolicy.parseIPv6(text) { return AddressPolicy.formatIPv6(v6) }
        return nil
    }

    private func excerpt(_ bytes: [UInt8]) -> String? {
        guard !bytes.isEmpty else { return nil }
        // Bounded here; redacted once, with the endpoint's secrets, when the attempt is recorded.
        return String(String(decoding: bytes.prefix(excerptLimit * 4), as: UTF8.self).prefix(excerptLimit))
    }

    static func format(_ d: Duration) -> String {
        let s = d.seconds
        return s == s.rounded() ? "\(Int(s))s" : String(format: "%.1fs", s)
    }
}

/// The send's `startBy` passed before the request was handed to the client: nothing was sent.
private struct NotStarted: Error {}
