@testable import Herald
import Testing

/// What woke, in order.
private actor Recorder {
    var items: [Int] = []
    func add(_ item: Int) { items.append(item) }
}

@Suite("Doorbell")
struct DoorbellTests {
    /// Polls `condition` until it holds or 10 s pass (no fixed sleeps).
    func eventually(_ condition: () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return false
    }

    @Test("a ring wakes one waiting slot, the longest waiting; ringAll wakes the rest and keeps one ring")
    func wakesOne() async {
        let bell = Doorbell()
        let woken = Recorder()
        let first = Task { await bell.wait(upTo: .seconds(60)); await woken.add(1) }
        #expect(await eventually { await bell.waiting == 1 })
        let second = Task { await bell.wait(upTo: .seconds(60)); await woken.add(2) }
        #expect(await eventually { await bell.waiting == 2 })
        await bell.ring()
        #expect(await eventually { await woken.items == [1] })
        #expect(await bell.waiting == 1)
        #expect(await bell.kept == 0)
        await bell.ringAll()
        #expect(await eventually { await woken.items == [1, 2] })
        #expect(await bell.kept == 1, "a slot busy during the listener's reconnect leases once more")
        _ = await (first.value, second.value)
    }

    @Test("a ring while nobody waits is kept for exactly one later wait")
    func ringBeforeWait() async {
        let bell = Doorbell()
        await bell.ring()
        #expect(await bell.kept == 1)
        let done = Recorder()
        let waiter = Task { await bell.wait(upTo: .seconds(60)); await done.add(1) }
        #expect(await eventually { await done.items == [1] })
        #expect(await bell.kept == 0)
        // The ring was taken: the next wait sleeps until another ring.
        let second = Task { await bell.wait(upTo: .seconds(60)); await done.add(2) }
        #expect(await eventually { await bell.waiting == 1 })
        #expect(await done.items == [1])
        await bell.ring()
        #expect(await eventually { await done.items == [1, 2] })
        _ = await (waiter.value, second.value)
    }

    @Test("kept rings are capped at the doorbell's capacity")
    func keptRingsAreCapped() async {
        let bell = Doorbell(capacity: 3)
        await bell.ring(10)
        #expect(await bell.kept == 3)
        for _ in 0..<3 { await bell.wait(upTo: .seconds(60)) }  // each returns at once, taking one
        #expect(await bell.kept == 0)
    }

    @Test("a pausing slot takes no ring and is not woken by one; close ends its pause")
    func pauseTakesNoRing() async {
        let bell = Doorbell()
        let done = Recorder()
        let pausing = Task { await bell.pause(for: .seconds(60)); await done.add(1) }
        #expect(await eventually { await bell.paused == 1 })
        await bell.ring()
        #expect(await bell.kept == 1, "the ring waits for a slot that leases, not the one backing off")
        #expect(await bell.paused == 1)
        #expect(await done.items.isEmpty)
        await bell.close()
        #expect(await eventually { await done.items == [1] })
        await pausing.value
    }

    @Test("ring(n) wakes up to n slots; close wakes all and later waits return at once")
    func ringManyAndClose() async {
        let bell = Doorbell()
        let woken = Recorder()
        let tasks = (0..<3).map { n in Task { await bell.wait(upTo: .seconds(60)); await woken.add(n) } }
        #expect(await eventually { await bell.waiting == 3 })
        await bell.ring(2)
        #expect(await eventually { await woken.items.count == 2 })
        await bell.close()
        #expect(await eventually { await woken.items.count == 3 })
        await bell.wait(upTo: .seconds(60))  // returns at once: closed
        for task in tasks { await task.value }
    }

    @Test("a slow round takes only a ring no waiting slot took, once; cancellation and close end its wait")
    func unanswered() async {
        let bell = Doorbell()
        let slot = Task { await bell.wait(upTo: .seconds(60)) }
        #expect(await eventually { await bell.waiting == 1 })
        let round = Task { await bell.takeUnanswered() }
        #expect(await eventually { await bell.waitingUnanswered == 1 })
        await bell.ring()
        await slot.value
        #expect(await bell.waitingUnanswered == 1, "the waiting slot answered that ring: the round still waits")
        await bell.ring()
        #expect(await round.value == .rung, "nobody waited: the round took the ring")
        #expect(await bell.kept == 0, "taken, not kept as well")

        await bell.ring()
        #expect(await bell.takeUnanswered() == .rung, "a ring kept earlier is taken at once")
        #expect(await bell.kept == 0)

        let cancelled = Task { await bell.takeUnanswered() }
        #expect(await eventually { await bell.waitingUnanswered == 1 })
        cancelled.cancel()
        #expect(await cancelled.value == .ended)
        #expect(await eventually { await bell.waitingUnanswered == 0 })
        await bell.ring()
        #expect(await bell.kept == 1, "the cancelled round took nothing")

        _ = await bell.takeUnanswered()
        let closing = Task { await bell.takeUnanswered() }
        #expect(await eventually { await bell.waitingUnanswered == 1 })
        await bell.close()
        #expect(await closing.value == .ended)
        #expect(await bell.takeUnanswered() == .ended)
    }

    @Test("a ring given back wakes a waiting slot or is kept, never passed to another slow round; the poll rings a slow round only when no slot waits or keeps a ring")
    func giveBackAndPoll() async {
        let bell = Doorbell()
        let round = Task { await bell.takeUnanswered() }
        #expect(await eventually { await bell.waitingUnanswered == 1 })
        await bell.giveBack()
        #expect(await bell.kept == 1, "kept for the next slot")
        #expect(await bell.waitingUnanswered == 1, "the slow round did not get it")
        #expect(await bell.pollSlowRounds() == false, "a kept ring: the next slot to wait leases")

        await bell.wait(upTo: .seconds(10))  // takes the kept ring at once
        #expect(await bell.kept == 0)
        let slot = Task { await bell.wait(upTo: .seconds(10)) }
        #expect(await eventually { await bell.waiting == 1 })
        #expect(await bell.pollSlowRounds() == false, "a slot waits: its own poll covers due work")
        await bell.giveBack()
        await slot.value
        #expect(await bell.kept == 0, "the waiting slot took it")
        #expect(await bell.waitingUnanswered == 1)

        let polled = await bell.pollSlowRounds()
        #expect(polled, "no slot waits, none kept: a slow round gets the poll's ring")
        // Not rung: end the round's wait (false) instead of awaiting it forever.
        if !polled { await bell.close() }
        #expect(await round.value == .polled, "told apart from a ring: nobody keeps it if no spare slot answers")
        #expect(await bell.pollSlowRounds() == false, "no slow round waits")
        #expect(await bell.kept == 0, "the poll keeps nothing")
    }
}
