internal import NIOCore
internal import Synchronization

/// A request body that refuses to be written once its send's start deadline has passed.
///
/// A lease covers a send only if the send starts before the lease's deadline (``HTTPSender`` checks it
/// before handing the request to the client). Between that check and the request leaving, the client
/// may still connect, or wait for a pooled connection; a worker frozen there (SIGSTOP, a stalled VM)
/// woke after its lease had ended and sent anyway, while another worker was already sending the same
/// delivery (the chaos run caught it). The client asks this body for its bytes only once the request
/// head is on a connection, so checking here, again, narrows that window to the hop from this check to
/// the connection's write. Refused, the client fails the request (the receiver sees a head without its
/// body and a closed connection: no complete request) and ``refused`` says nothing was delivered.
struct StartGatedBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    let bytes: ByteBuffer
    let startBy: ContinuousClock.Instant
    /// Set when the body refused to be written; shared by every iterator (one per connection tried).
    let refusal = Refusal()

    final class Refusal: Sendable {
        private let flag = Atomic<Bool>(false)
        var refused: Bool { flag.load(ordering: .acquiring) }
        func set() { flag.store(true, ordering: .releasing) }
    }

    /// The error the body fails its request with.
    struct TooLate: Error {}

    struct Iterator: AsyncIteratorProtocol {
        var remaining: ByteBuffer?
        let startBy: ContinuousClock.Instant
        let refusal: Refusal

        mutating func next() async throws -> ByteBuffer? {
            guard let bytes = remaining else { return nil }
            remaining = nil
            if ContinuousClock.now >= startBy {
                refusal.set()
                throw TooLate()
            }
            return bytes.readableBytes > 0 ? bytes : nil
        }
    }

    func makeAsyncIterator() -> Iterator { Iterator(remaining: bytes, startBy: startBy, refusal: refusal) }

    /// Whether the body refused to be written, so the request never reached its receiver whole.
    var refused: Bool { refusal.refused }
}
