internal import Foundation

/// The second stage of a round: what to do with each leased row before anything is sent.
///
/// A pure value (no I/O, no clock of its own: every time it compares comes from the database), so each
/// rule has a unit test. Every leased row already holds a permit of its breaker key; triage only decides
/// whether this particular delivery may use it.
struct LeaseTriage: Sendable {
    /// Consecutive sends whose worker died or froze after which a delivery is parked.
    var poisonThreshold: Int

    /// What becomes of one leased row.
    enum Decision: Sendable, Equatable {
        /// Send it now, with the lease held.
        case send(id: Int64)
        /// Its last `poisonThreshold` sends never finished: parked as dead, never sent again.
        case park(id: Int64)
        /// Its endpoint is disabled: failed with the endpoint's reason, no attempt spent.
        case failDisabled(id: Int64)
        /// The row could not be read: failed with the reason, alone; the batch goes on.
        case failUnreadable(LeaseRowError)
        /// An interrupted send's request may still be open at the receiver: not before `until`.
        case wait(id: Int64, until: Date)
    }

    func decide(_ row: Result<LeasedDelivery, LeaseRowError>) -> Decision {
        let delivery: LeasedDelivery
        switch row {
        case .failure(let error): return .failUnreadable(error)
        case .success(let d): delivery = d
        }
        if delivery.interrupted >= poisonThreshold { return .park(id: delivery.id) }
        if !delivery.enabled { return .failDisabled(id: delivery.id) }
        // The last send's worker died or froze; if it lives on, frozen, its request may still be open at the
        // receiver. The database said until when (the idle-in-transaction timeout after that send's journal row, by its clock).
        if let until = delivery.resendNotBefore { return .wait(id: delivery.id, until: until) }
        return .send(id: delivery.id)
    }
}
