internal import NIOPosix
internal import Synchronization

/// One send's start deadline, checked by its body at the moment the client takes the bytes to write
/// them, and what became of that body. Shared by every attempt of the client to write it (one per
/// address tried, or a retry on a fresh connection).
///
/// A lease covers a send only if the send starts before the lease's deadline. ``HTTPSender`` checks it
/// before handing the request to the client; between that check and the request leaving, the client may
/// still connect, or wait for a pooled connection, and a worker frozen there (SIGSTOP, a stalled VM) woke
/// after its lease had ended and sent anyway while another worker sent the same delivery (the chaos run
/// caught it twice). So the body checks again, as late as the client lets it: see ``StartGatedBytes``
/// (on the connection's event loop, in the same call that writes the bytes) and ``StartGatedBody``.
final class StartGate: Sendable {
    let startBy: ContinuousClock.Instant
    private let refusedFlag = Atomic<Bool>(false)
    private let handedOverFlag = Atomic<Bool>(false)
    private let checkedOffLoopFlag = Atomic<Bool>(false)

    init(startBy: ContinuousClock.Instant) { self.startBy = startBy }

    /// Whether the body refused to be written.
    var refused: Bool { refusedFlag.load(ordering: .acquiring) }
    /// Whether the client took the body to write it.
    var handedOver: Bool { handedOverFlag.load(ordering: .acquiring) }
    /// Whether the receiver cannot have got the request whole: the body was refused, or was never handed
    /// over and the deadline has passed (a timeout or a failed connection raced the refusal).
    var withheld: Bool { refused || (!handedOver && ContinuousClock.now >= startBy) }
    /// Whether a check ran on a thread that is not an event loop's: then a hop separated it from the
    /// write (a body over ``StartGatedBytes/largest``, or a client that changed how it asks for bodies).
    /// Read by the tests that pin where the check runs.
    var checkedOffLoop: Bool { checkedOffLoopFlag.load(ordering: .acquiring) }

    /// Checks the deadline for bytes about to be written: true to write them, false (and refused from
    /// then on) once it has passed.
    func admit() -> Bool {
        if MultiThreadedEventLoopGroup.currentEventLoop == nil { checkedOffLoopFlag.store(true, ordering: .releasing) }
        if refused || ContinuousClock.now >= startBy {
            refusedFlag.store(true, ordering: .releasing)
            return false
        }
        handedOverFlag.store(true, ordering: .releasing)
        return true
    }
}
