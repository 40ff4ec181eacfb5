internal import AsyncHTTPClient
internal import Synchronization

/// HTTP clients that connect only to addresses the SSRF guard checked, one per (host name, address) pair.
///
/// Why one client per pair: async-http-client resolves a URL's host name itself when it connects, a
/// second lookup after the guard's that a rebinding DNS server can answer differently. Its `dnsOverride`
/// maps a name to the address to connect to while SNI, certificate verification and the `Host` header
/// keep the name, so https is pinned as well as http, but it is a setting of the whole client. So each
/// checked (name, address) pair gets a client of its own, each with its own keep-alive pool; idle ones are
/// shut down once more than `capacity` exist. Literal-address URLs share one client without overrides:
/// the client connects to a canonical literal as written (no lookup).
final class PinnedClients: Sendable {
    private struct Entry {
        var client: HTTPClient
        var inFlight: Int
        var lastUsed: ContinuousClock.Instant
    }
    private struct State {
        var entries: [String: Entry] = [:]
        var closed = false
    }

    private let configuration: HTTPClient.Configuration
    private let direct: HTTPClient
    private let state = Mutex(State())
    /// Pinned clients kept beyond those in use. Default 256.
    let capacity: Int

    init(configuration: HTTPClient.Configuration, capacity: Int = 256) {
        self.configuration = configuration
        self.capacity = capacity
        direct = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// Runs `body` with the client for `host` pinned to `address`, or the direct client when `address` is nil
    /// (the URL's host is itself the checked literal).
    func withClient<T: Sendable>(host: String, address: String?, _ body: (HTTPClient) async throws -> T) async throws -> T {
        guard let address else { return try await body(direct) }
        let key = "\(host) \(address)"
        let (client, evicted) = try lease(key, host: host, address: address)
        for old in evicted { try? await old.shutdown() }
        defer { release(key) }
        return try await body(client)
    }

    private func lease(_ key: String, host: String, address: String) throws -> (HTTPClient, [HTTPClient]) {
        try state.withLock { s in
            guard !s.closed else { throw CancellationError() }
            if var entry = s.entries[key] {
                entry.inFlight += 1
                entry.lastUsed = .now
                s.entries[key] = entry
                return (entry.client, [])
            }
            var evicted: [HTTPClient] = []
            if s.entries.count >= capacity {
                let idle = s.entries.filter { $0.value.inFlight == 0 }.sorted { $0.value.lastUsed < $1.value.lastUsed }
                for (oldKey, entry) in idle.prefix(s.entries.count - capacity + 1) {
                    s.entries[oldKey] = nil
                    evicted.append(entry.client)
                }
            }
            var pinned = configuration
            pinned.dnsOverride = [host: address]
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: pinned)
            s.entries[key] = Entry(client: client, inFlight: 1, lastUsed: .now)
            return (client, evicted)
        }
    }

    private func release(_ key: String) {
        state.withLock { s in
            if var entry = s.entries[key] {
                entry.inFlight -= 1
                s.entries[key] = entry
            }
        }
    }

    /// Shuts every client down; later sends fail.
    func shutdown() async {
        let clients = state.withLock { s -> [HTTPClient] in
            s.closed = true
            defer { s.entries = [:] }
            return s.entries.values.map(\.client)
        }
        for client in clients { try? await client.shutdown() }
        try? await direct.shutdown()
    }
}
