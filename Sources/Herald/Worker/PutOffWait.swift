/// The doorbell wait a slot's last round asked for, kept while the slot has no permit.
///
/// A slot without a permit must not take a ring: only a slot that can lease may answer one, and a ring a
/// slow round waits for (``Doorbell/takeUnanswered()``) would be lost while the slot blocked in
/// ``SlotPermits/acquire()``. So a round that ends without its permit (given back to stragglers, or handed
/// over) puts its wait off; how the slot gets a permit again decides what becomes of it:
/// - a free permit (``SlotPermits/tryAcquire()``) says nothing about new work: the wait still holds;
/// - a permit given to the waiting slot comes from a straggling or slow round, for due work: lease at once.
///
/// A pure value, so that this rule has tests of its own (``DeliverySlot`` only follows it).
struct PutOffWait: Equatable {
    private(set) var wait: Duration?

    /// The round asks to wait for a ring up to `wait`: returned, to wait now, when the slot holds its
    /// permit; otherwise kept for when it has one again (nil).
    mutating func roundAsks(toWait wait: Duration, holdsPermit: Bool) -> Duration? {
        if holdsPermit { return wait }
        self.wait = wait
        return nil
    }

    /// The slot holds a permit again, free (`handed` false) or given to it while it waited: the wait to
    /// make before leasing, if any. Either way nothing is kept after.
    mutating func gotPermit(handed: Bool) -> Duration? {
        defer { wait = nil }
        return handed ? nil : wait
    }
}
