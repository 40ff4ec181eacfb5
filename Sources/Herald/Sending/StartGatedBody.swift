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
/// body and a closed connection: no complete request) and the ``Gate`` says nothing was delivered.
///
/// Not for an empty body: the client sends that with the head and never asks for it, so only the check
/// before the client covers it.
struct StartGatedBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    let bytes: ByteBuffer
    let gate: Gate

    /// One send's deadline and what became of its body; shared by every iterator (one per address tried).
    final class Gate: Sendable {
        let startBy: ContinuousClock.Instant
        private let refusedFlag = Atomic<Bool>(false)
        private let handedOverFlag = Atomic<Bool>(false)

        init(startBy: ContinuousClock.Instant) { self.startBy = startBy }

        /// Whether the body refused to be written.
        var refused: Bool { refusedFlag.load(ordering: .acquiring) }
        /// Whether the client took the body to write it.
        var handedOver: Bool { handedOverFlag.load(ordering: .acquiring) }
        /// Whether the receiver cannot have got the request whole: the body was refused, or was never
        /// handed over and the deadline has passed (a timeout or a failed connection raced the refusal).
        var withheld: Bool { refused || (!handedOver && ContinuousClock.now >= startBy) }

        fileprivate func refuse() { refusedFlag.store(true, ordering: .releasing) }
        fileprivate func handOver() { handedOverFlag.store(true, ordering: .releasing) }
    }

    /// The error the body fails its request with.
    struct TooLate: Error {}

    struct Iterator: AsyncIteratorProtocol {
        var remaining: ByteBuffer?
        let gate: Gate

        mutating func next() async throws -> ByteBuffer? {
            guard let bytes = remaining else { return nil }
            remaining = nil
            if ContinuousClock.now >= gate.startBy {
                gate.refuse()
                throw TooLate()
            }
            gate.handOver()
            return bytes
        }
    }

    func makeAsyncIterator() -> Iterator { Iterator(remaining: bytes, gate: gate) }
}
