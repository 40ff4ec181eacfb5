internal import NIOCore

/// A request body over ``StartGatedBytes/largest`` that refuses to be written once its send's start
/// deadline has passed (``StartGate``).
///
/// The client asks an `AsyncSequence` for its bytes from a task of its own once the request head is on a
/// connection, then hops to the connection's event loop to write them: a worker frozen in that hop could
/// still write late. Bodies that size are rare (the default limit is 1 MiB); smaller ones are
/// ``StartGatedBytes``, checked on the loop itself. Refused, the client fails the request (the receiver
/// sees a head without its body and a closed connection: no complete request).
///
/// Not for an empty body: the client sends that with the head and never asks for it, so only the check
/// before the client covers it.
struct StartGatedBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    let bytes: ByteBuffer
    let gate: StartGate

    /// The error the body fails its request with.
    struct TooLate: Error {}

    struct Iterator: AsyncIteratorProtocol {
        var remaining: ByteBuffer?
        let gate: StartGate

        mutating func next() async throws -> ByteBuffer? {
            guard let bytes = remaining else { return nil }
            remaining = nil
            guard gate.admit() else { throw TooLate() }
            return bytes
        }
    }

    func makeAsyncIterator() -> Iterator { Iterator(remaining: bytes, gate: gate) }
}
