internal import Foundation
internal import Logging
internal import PGDriver
internal import Synchronization

/// The send stage of a round.
extension DeliverySlot {
    /// Starts every send of the batch at once (a rate-limited endpoint's sends each at its reserved moment,
    /// at most 250 ms on) and waits for them while watching the lease's connection.
    ///
    /// If the server ends the transaction (restart, idle-in-transaction timeout) the row locks and permits
    /// no longer cover the sends and another worker may lease the rows: the sends still in flight are
    /// cancelled at once and the round fails. A send that could not start before `deadline` (lease start +
    /// idle timeout − request timeout − a margin: a send started later could outlive the lease) is returned
    /// as held back, unsent. Whenever the round fails while this worker lives, the journal rows are settled
    /// (``AttemptJournal/abandon(began:neverBegan:reason:)``), so only a worker's death or freeze leaves
    /// `unknown` attempts, the ones that count toward parking.
    ///
    /// With a `permit`, a ``StragglerWatch`` gives it back once the batch waits only for its stragglers, or
    /// hands it to a spare slot when its sends are slow and new work rang with no slot free, so a spare slot
    /// leases meanwhile (``SlotPermits``).
    func sendAll(
        _ paced: [(LeasedDelivery, Duration)], attemptIDs: [Int64: Int64], lease: PGConnection, deadline: ContinuousClock.Instant,
        spans: RoundSpans? = nil, permit: HeldPermit? = nil
    ) async throws -> (sent: [SentAttempt], heldBack: [LeasedDelivery]) {
        guard !paced.isEmpty else { return ([], []) }
        let slow = configuration.spareSlots > 0 ? (delay: configuration.slowRoundDelay, doorbell: doorbell) : nil
        let watch = permit.map { StragglerWatch(total: paced.count, delay: configuration.stragglerDelay, permit: $0, slow: slow) }
        defer { watch?.finish() }
        let deliveries = paced.map(\.0)
        let began = StartedSends()
        let outcome: Result<[(LeasedDelivery, SentAttempt?)], any Error>
        do {
            outcome = .success(
                try await withThrowingTaskGroup(of: [(LeasedDelivery, SentAttempt?)]?.self) { group in
                    group.addTask {
                        await withTaskGroup(of: (LeasedDelivery, SentAttempt?).self) { sends in
                            for (delivery, after) in paced {
                                sends.addTask {
                                    if after > .zero { try? await Task.sleep(for: after) }
                                    // A worker paused between lease and send (SIGSTOP, a stalled VM) may
                                    // have lost its lease already: past the deadline nothing starts.
                                    guard ContinuousClock.now < deadline, !Task.isCancelled else { return (delivery, nil) }
                                    began.insert(delivery.id)
                                    let sent = await self.attempt(
                                        delivery, attemptID: attemptIDs[delivery.id], startBy: deadline, parent: spans?.parent(of: delivery.id))
                                    if sent == nil { began.remove(delivery.id) }
                                    return (delivery, sent)
                                }
                            }
                            var all: [(LeasedDelivery, SentAttempt?)] = []
                            for await result in sends {
                                all.append(result)
                                watch?.sendEnded()
                            }
                            return all
                        }
                    }
                    group.addTask {
                        try await lease.waitUntilLost()
                        return nil
                    }
                    defer { group.cancelAll() }
                    guard let first = try await group.next(), let results = first else {
                        throw PGError(.connectionLost, message: "the lease ended during the sends")
                    }
                    return results
                })
        } catch {
            outcome = .failure(error)
        }
        // A forced shutdown cancelled the sends: the round rolls back, the deliveries stay pending unspent.
        let failure: (any Error)? =
            switch outcome {
            case .failure(let error): error
            case .success: Task.isCancelled ? CancellationError() : nil
            }
        if let failure {
            let started = began.ids
            let ids = deliveries.compactMap { d in attemptIDs[d.id].map { (d.id, $0) } }
            await journal.abandon(
                began: ids.filter { started.contains($0.0) }.map(\.1), neverBegan: ids.filter { !started.contains($0.0) }.map(\.1),
                reason: "send abandoned: \(failure is CancellationError ? "the worker stopped" : "the lease ended") while the worker was alive")
            throw failure
        }
        guard case .success(let results) = outcome else { return ([], []) }
        let sent = results.compactMap(\.1)
        let heldBack = results.filter { $0.1 == nil }.map(\.0)
        if !heldBack.isEmpty {
            logger.warning(
                "sends held back: the lease is too old to start them", metadata: ["slot": "\(index)", "deliveries": "\(heldBack.count)"])
        }
        return (sent, heldBack)
    }
}

/// Which sends of a round actually began (their request may have reached the receiver).
final class StartedSends: Sendable {
    private let started = Mutex<Set<Int64>>([])

    func insert(_ id: Int64) { started.withLock { _ = $0.insert(id) } }

    func remove(_ id: Int64) { started.withLock { _ = $0.remove(id) } }

    var ids: Set<Int64> { started.withLock { $0 } }
}
