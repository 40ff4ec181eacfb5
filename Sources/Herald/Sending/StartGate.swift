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
    /// One decision, taken once: the body was handed over, or it was refused (by the body's own check,
    /// or by ``withheld`` once the deadline passed with the body not yet taken). A compare-exchange, so
    /// the send's timeout and the body's check can never both win (the timeout reporting "not sent"
    /// while the body is written).
    private let decision = Atomic<UInt8>(StartGate.pending)
    private let checkedOffLoopFlag = Atomic<Bool>(false)

    private static let pending: UInt8 = 0
    private static let handedOverState: UInt8 = 1
    private static let refusedState: UInt8 = 2

    init(startBy: ContinuousClock.Instant) { self.startBy = startBy }

    /// Whether the body refused to be written.
    var refused: Bool { decision.load(ordering: .acquiring) == Self.refusedState }
    /// Whether the client took the body to write it.
    var handedOver: Bool { decision.load(ordering: .acquiring) == Self.handedOverState }
    /// Whether the receiver cannot have got the request whole: the body was refused, or the deadline has
    /// passed before it was handed over (then it is refused from now on, so it is never written later).
    var withheld: Bool {
        if ContinuousClock.now >= startBy { return decide(Self.refusedState) == Self.refusedState }
        return refused
    }
    /// Whether a check ran on a thread that is not an event loop's: then a hop separated it from the
    /// write (a body over ``StartGatedBytes/largest``, or a client that changed how it asks for bodies).
    /// Read by the tests that pin where the check runs.
    var checkedOffLoop: Bool { checkedOffLoopFlag.load(ordering: .acquiring) }

    /// Checks the deadline for bytes about to be written: true to write them, false (and refused from
    /// then on) once it has passed or the send was already given up.
    func admit() -> Bool {
        if MultiThreadedEventLoopGroup.currentEventLoop == nil { checkedOffLoopFlag.store(true, ordering: .releasing) }
        let wanted = ContinuousClock.now >= startBy ? Self.refusedState : Self.handedOverState
        return decide(wanted) == Self.handedOverState
    }

    /// Takes `wanted` if nothing was decided yet; returns the decision that holds.
    private func decide(_ wanted: UInt8) -> UInt8 {
        let (exchanged, current) = decision.compareExchange(
            expected: Self.pending, desired: wanted, successOrdering: .acquiringAndReleasing, failureOrdering: .acquiring)
        return exchanged ? wanted : current
    }
}
