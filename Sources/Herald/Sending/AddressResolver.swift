/// Turns a host name into the IP addresses the SSRF guard checks and the sender then connects to.
///
/// A protocol so that tests can script DNS (a lookup that fails, then answers loopback; one that answers a
/// public and a private address; one that hangs) without touching the network; the worker uses
/// ``SystemAddressResolver``.
protocol AddressResolver: Sendable {
    /// The addresses of `host` as IP text, in the order to try them; throws or returns nothing when the
    /// name does not resolve. May ignore cancellation: the sender bounds it by the request timeout anyway.
    func resolve(_ host: String, port: Int) async throws -> [String]
}
