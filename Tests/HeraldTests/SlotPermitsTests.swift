import Testing

@testable import Herald

@Suite("Slot permits and the straggler rule")
struct SlotPermitsTests {
    /// A slot waiting for a permit, as a spare slot does: returned once it is queued (or `deadline` passed),
    /// as the task that ends with what ``SlotPermits/acquire()`` gave it.
    func slotWaiting(for permits: SlotPermits, until deadline: ContinuousClock.Instant) async -> Task<Bool, Never> {
        let before = permits.waiting
        let slot = Task { await permits.acquire() }
        while permits.waiting <= before && ContinuousClock.now < deadline { await Task.yield() }
        return slot
    }

    @Test("the rule arms once half the sends ended and some are still out; never for one send or all ended")
    func rule() {
        #expect(!StragglerWatch.Rule.arms(ended: 0, of: 1))
        #expect(!StragglerWatch.Rule.arms(ended: 1, of: 1))
        #expect(!StragglerWatch.Rule.arms(ended: 7, of: 16))
        #expect(StragglerWatch.Rule.arms(ended: 8, of: 16))
        #expect(StragglerWatch.Rule.arms(ended: 15, of: 16))
        #expect(!StragglerWatch.Rule.arms(ended: 16, of: 16))
        #expect(StragglerWatch.Rule.arms(ended: 1, of: 2))
    }

    @Test("a permit released goes to the slot waiting longest; none is created or lost")
    func fifo() async {
        let permits = SlotPermits(1)
        #expect(await permits.acquire())
        #expect(permits.available == 0)
        async let second = permits.acquire()
        // Whether or not the waiter is queued yet, the permit released reaches it and none is left over.
        permits.release()
        #expect(await second)
        #expect(permits.available == 0)
        permits.release()
        #expect(permits.available == 1)
    }

    @Test("a held permit is given back once, however often release is called")
    func heldOnce() async {
        let permits = SlotPermits(2)
        #expect(await permits.acquire())
        let held = HeldPermit(permits)
        held.release()
        held.release()
        #expect(!held.isHeld)
        #expect(permits.available == 2)
    }

    @Test("close ends every wait with false, and later ones")
    func close() async {
        let permits = SlotPermits(0)
        async let waiting = permits.acquire()
        permits.close()
        #expect(await waiting == false)
        #expect(await permits.acquire() == false)
    }

    @Test("the watch gives the permit back after the delay once half the batch ended, and not when all end first")
    func watch() async throws {
        let permits = SlotPermits(1)
        #expect(await permits.acquire())
        let held = HeldPermit(permits)
        let watch = StragglerWatch(total: 4, delay: .milliseconds(1), permit: held)
        watch.sendEnded()
        #expect(held.isHeld, "one of four: not yet")
        watch.sendEnded()
        let deadline = ContinuousClock.now + .seconds(10)
        while held.isHeld && ContinuousClock.now < deadline { await Task.yield() }
        #expect(!held.isHeld)
        #expect(permits.available == 1)

        #expect(await permits.acquire())
        let second = HeldPermit(permits)
        let quick = StragglerWatch(total: 2, delay: .seconds(3600), permit: second)
        quick.sendEnded()
        quick.sendEnded()
        quick.finish()
        #expect(second.isHeld, "all ended before the delay: the round keeps its permit")
    }

    @Test("a held permit is handed over only to a waiting slot, once; with none waiting the round keeps it")
    func handOver() async {
        let permits = SlotPermits(1)
        #expect(await permits.acquire())
        let held = HeldPermit(permits)
        #expect(!held.handOver(), "no slot waits")
        #expect(held.isHeld)
        #expect(permits.available == 0, "nothing left free for nobody")
        let spare = Task { await permits.acquire() }
        let deadline = ContinuousClock.now + .seconds(10)
        var handed = false
        while !handed && ContinuousClock.now < deadline {
            handed = held.handOver()
            if !handed { await Task.yield() }
        }
        #expect(handed)
        // Never handed over: end the spare's wait (false) instead of awaiting it forever.
        if !handed { permits.close() }
        #expect(await spare.value, "the waiting slot got it")
        #expect(!held.isHeld)
        #expect(!held.handOver(), "given once")
        held.release()
        #expect(permits.available == 0, "release after a hand-over gives nothing more back")
    }

    @Test("a slow round hands its permit to a waiting spare slot when a ring finds no slot waiting; not before the delay, not after the round")
    func slowRound() async throws {
        let bell = Doorbell()
        let permits = SlotPermits(1)
        #expect(await permits.acquire())
        let held = HeldPermit(permits)
        let spare = Task { await permits.acquire() }
        let watch = StragglerWatch(total: 16, delay: .seconds(3600), permit: held, slow: (.milliseconds(1), bell))
        let deadline = ContinuousClock.now + .seconds(10)
        while (await bell.waitingUnanswered == 0 || permits.waiting == 0) && ContinuousClock.now < deadline { await Task.yield() }
        #expect(held.isHeld, "no ring yet: the slow round keeps its permit")
        await bell.ring()
        #expect(await spare.value, "the spare slot got the permit for the ring")
        #expect(!held.isHeld)
        #expect(await bell.kept == 0, "the ring is the spare slot's, not kept for another")
        watch.finish()

        // Finished before the ring: the round hands nothing over and the ring stays for the next slot.
        let second = HeldPermit(permits)
        let other = Task { await permits.acquire() }
        let done = StragglerWatch(total: 1, delay: .seconds(3600), permit: second, slow: (.milliseconds(1), bell))
        done.finish()
        await bell.ring()
        // The finished round may have entered its wait before `finish()`; it then takes the ring and gives
        // it back, asynchronously.
        let settled = ContinuousClock.now + .seconds(10)
        while await bell.kept == 0 && ContinuousClock.now < settled { await Task.yield() }
        #expect(await bell.kept == 1)
        #expect(second.isHeld)
        second.release()
        #expect(await other.value)
    }

    @Test("a slow round with no spare slot waiting gives the ring back, not to another slow round, and tries again once a slot waits for a permit")
    func slowRoundWithoutSpare() async throws {
        let bell = Doorbell()
        let permits = SlotPermits(2)
        #expect(await permits.acquire())
        #expect(await permits.acquire())
        let (first, second) = (HeldPermit(permits), HeldPermit(permits))
        let deadline = ContinuousClock.now + .seconds(10)
        // One after the other, so that the first waits longest and takes the ring.
        let one = StragglerWatch(total: 16, delay: .seconds(3600), permit: first, slow: (.milliseconds(1), bell))
        while await bell.waitingUnanswered < 1 && ContinuousClock.now < deadline { await Task.yield() }
        let two = StragglerWatch(total: 16, delay: .seconds(3600), permit: second, slow: (.milliseconds(1), bell))
        while await bell.waitingUnanswered < 2 && ContinuousClock.now < deadline { await Task.yield() }
        await bell.ring()
        while await bell.kept == 0 && ContinuousClock.now < deadline { await Task.yield() }
        #expect(await bell.kept == 1, "given back for the next slot that waits")
        #expect(await bell.waitingUnanswered == 1, "the other slow round still waits: the ring was not passed on")
        while permits.watching == 0 && ContinuousClock.now < deadline { await Task.yield() }
        #expect(permits.watching == 1, "the round that gave it back waits for a slot to wait for a permit")
        #expect(first.isHeld && second.isHeld)

        // A slot comes to wait for a permit: the round that gave the ring back takes it again and hands over.
        let spare = Task { await permits.acquire() }
        while first.isHeld && second.isHeld && ContinuousClock.now < deadline { await Task.yield() }
        // Never handed over: end the spare's wait (false) instead of awaiting it forever.
        if first.isHeld && second.isHeld { permits.close() }
        #expect(await spare.value, "the spare slot got a permit for the kept ring")
        #expect(!first.isHeld && second.isHeld, "the round that took the ring and gave it back handed its permit over")
        #expect(await bell.kept == 0)
        #expect(await bell.waitingUnanswered == 1, "the other round still waits for a ring")
        one.finish()
        two.finish()
        while await bell.waitingUnanswered > 0 && ContinuousClock.now < deadline { await Task.yield() }
        #expect(await bell.waitingUnanswered == 0, "finished rounds wait for nothing")
    }

    @Test("the poll's ring moves a permit only to a spare slot waiting for one; unanswered, it is dropped, not kept")
    func pollWithAndWithoutSpare() async throws {
        let bell = Doorbell()
        let permits = SlotPermits(1)
        #expect(await permits.acquire())
        let held = HeldPermit(permits)
        let watch = StragglerWatch(total: 16, delay: .seconds(3600), permit: held, slow: (.milliseconds(1), bell))
        let deadline = ContinuousClock.now + .seconds(10)
        while await bell.waitingUnanswered == 0 && ContinuousClock.now < deadline { await Task.yield() }
        #expect(await bell.pollSlowRounds(), "no slot waits or keeps a ring: the slow round is polled")
        // No spare slot waits for a permit (the worker would not have polled; here a race lost it): the round
        // keeps its permit, keeps no ring and waits for the next.
        while await bell.waitingUnanswered == 0 && ContinuousClock.now < deadline { await Task.yield() }
        #expect(await bell.waitingUnanswered == 1, "back to waiting for a ring")
        #expect(await bell.kept == 0, "the poll is not kept: the next slot to finish a round would lease for nothing")
        #expect(permits.watching == 0, "nor does the round wait for a spare slot for it")
        #expect(held.isHeld)

        let spare = await slotWaiting(for: permits, until: deadline)
        #expect(await bell.pollSlowRounds())
        while held.isHeld && ContinuousClock.now < deadline { await Task.yield() }
        // Never handed over: end the spare's wait (false) instead of awaiting it forever.
        if held.isHeld { permits.close() }
        #expect(await spare.value, "a spare slot waited: the poll handed it the permit")
        #expect(!held.isHeld)
        #expect(await bell.kept == 0)
        watch.finish()
    }

    @Test("the worker's poll rings a slow round only while a spare slot waits for a permit")
    func slowRoundPollNeedsSpare() async throws {
        let bell = Doorbell()
        let permits = SlotPermits(1)
        #expect(await permits.acquire())
        let held = HeldPermit(permits)
        let watch = StragglerWatch(total: 16, delay: .seconds(3600), permit: held, slow: (.milliseconds(1), bell))
        let poll = SlowRoundPoll(doorbell: bell, permits: permits, interval: .seconds(3600))
        let deadline = ContinuousClock.now + .seconds(10)
        while await bell.waitingUnanswered == 0 && ContinuousClock.now < deadline { await Task.yield() }
        #expect(await bell.waitingUnanswered == 1)
        #expect(await poll.tick() == false, "no spare slot waits: nothing to hand over, so no poll")
        #expect(await bell.waitingUnanswered == 1, "the slow round was not rung")
        #expect(held.isHeld)

        let spare = await slotWaiting(for: permits, until: deadline)
        #expect(await poll.tick(), "a spare slot waits: the slow round gets the poll")
        while held.isHeld && ContinuousClock.now < deadline { await Task.yield() }
        if held.isHeld { permits.close() }
        #expect(await spare.value, "and hands its permit over")
        watch.finish()
    }

    @Test("a poll that reaches a round without its permit goes on to the next slow round")
    func pollPassedOn() async throws {
        let bell = Doorbell()
        let permits = SlotPermits(2)
        #expect(await permits.acquire())
        #expect(await permits.acquire())
        let first = HeldPermit(permits)
        let second = HeldPermit(permits)
        let deadline = ContinuousClock.now + .seconds(10)
        // One after the other, so the first round is the one the poll reaches first.
        let firstWatch = StragglerWatch(total: 16, delay: .seconds(3600), permit: first, slow: (.milliseconds(1), bell))
        while await bell.waitingUnanswered < 1 && ContinuousClock.now < deadline { await Task.yield() }
        let secondWatch = StragglerWatch(total: 16, delay: .seconds(3600), permit: second, slow: (.milliseconds(1), bell))
        while await bell.waitingUnanswered < 2 && ContinuousClock.now < deadline { await Task.yield() }
        #expect(await bell.waitingUnanswered == 2)

        // The first round's permit goes to one spare slot while its slow wait is still registered: the moment
        // between the straggler timer giving the permit back and the round's wait being dropped, held here
        // (the test releases the permit itself, so the wait stays registered). A second spare slot waits.
        let spare = await slotWaiting(for: permits, until: deadline)
        first.release()
        #expect(await spare.value)
        let secondSpare = await slotWaiting(for: permits, until: deadline)

        #expect(await bell.pollSlowRounds(), "the poll reaches the first round, which has no permit to hand over")
        while second.isHeld && ContinuousClock.now < deadline { await Task.yield() }
        // Never handed over: end the spare's wait (false) instead of awaiting it forever.
        if second.isHeld { permits.close() }
        #expect(await secondSpare.value, "passed on, the poll made the second round hand its permit to the waiting spare")
        #expect(!second.isHeld)
        #expect(await bell.kept == 0, "the poll keeps nothing")

        // A round without its permit alone: the poll reaches it, no other slow round is there to take it, and
        // it is dropped, not kept as a ring (the next slot to wait would lease for work that may not be due).
        // The first round passed the poll on and stopped; a third takes the first spare slot's permit.
        #expect(await bell.waitingUnanswered == 0, "the first round passed the poll on and stopped")
        secondWatch.finish()
        let third = HeldPermit(permits)
        let thirdWatch = StragglerWatch(total: 16, delay: .seconds(3600), permit: third, slow: (.milliseconds(1), bell))
        while await bell.waitingUnanswered < 1 && ContinuousClock.now < deadline { await Task.yield() }
        let thirdSpare = await slotWaiting(for: permits, until: deadline)
        third.release()
        #expect(await thirdSpare.value)
        let fourthSpare = await slotWaiting(for: permits, until: deadline)
        #expect(await bell.pollSlowRounds())
        while await bell.waitingUnanswered > 0 && ContinuousClock.now < deadline { await Task.yield() }
        #expect(await bell.waitingUnanswered == 0, "the round without its permit passed the poll on and stopped")
        #expect(await bell.kept == 0, "nobody took the poll: dropped, not kept")
        #expect(permits.waiting == 1, "and no permit moved for the waiting slot")
        permits.close()
        #expect(await fourthSpare.value == false)
        thirdWatch.finish()
        firstWatch.finish()
    }

    @Test("a wait put off without a permit is made after a free permit, dropped after a handed one")
    func putOffWait() {
        var putOff = PutOffWait()
        #expect(putOff.roundAsks(toWait: .seconds(1), holdsPermit: true) == .seconds(1), "with its permit the slot waits now")
        #expect(putOff.wait == nil)
        #expect(putOff.roundAsks(toWait: .milliseconds(300), holdsPermit: false) == nil, "without, it takes no ring")
        #expect(putOff.wait == .milliseconds(300))
        #expect(putOff.gotPermit(handed: false) == .milliseconds(300), "a free permit says nothing of new work")
        #expect(putOff.gotPermit(handed: false) == nil, "made once")
        _ = putOff.roundAsks(toWait: .milliseconds(300), holdsPermit: false)
        #expect(putOff.gotPermit(handed: true) == nil, "a permit handed over is for due work: lease at once")
        #expect(putOff.wait == nil)
    }

    @Test("a round whose permit the straggler timer gave back stops waiting for rings")
    func stragglerEndsSlowWait() async throws {
        let bell = Doorbell()
        let permits = SlotPermits(1)
        #expect(await permits.acquire())
        let held = HeldPermit(permits)
        let watch = StragglerWatch(total: 2, delay: .milliseconds(1), permit: held, slow: (.milliseconds(1), bell))
        let deadline = ContinuousClock.now + .seconds(10)
        while await bell.waitingUnanswered == 0 && ContinuousClock.now < deadline { await Task.yield() }
        #expect(await bell.waitingUnanswered == 1)
        watch.sendEnded()
        while ContinuousClock.now < deadline {
            let waits = await bell.waitingUnanswered
            if !held.isHeld && waits == 0 { break }
            await Task.yield()
        }
        #expect(!held.isHeld, "given back for the straggler")
        #expect(await bell.waitingUnanswered == 0, "no permit left to hand over: no ring taken")
        await bell.ring()
        #expect(await bell.kept == 1)
        watch.finish()
    }

    @Test("a free permit is taken without waiting; a slow round's wait for a waiting slot ends on one, on cancel and on close")
    func tryAcquireAndWatch() async throws {
        let permits = SlotPermits(1)
        #expect(permits.tryAcquire())
        #expect(!permits.tryAcquire(), "none free")
        let watcher = Task { await permits.waitForWaiter() }
        let slot = Task { await permits.acquire() }
        // Never woken: end the waits (false) instead of awaiting them forever.
        let watchdog = Task {
            try? await Task.sleep(for: .seconds(10))
            if !Task.isCancelled { permits.close() }
        }
        #expect(await watcher.value, "a slot came to wait")
        watchdog.cancel()
        #expect(await permits.waitForWaiter(), "and still waits: true at once")
        permits.release()
        #expect(await slot.value)

        let cancelled = Task { await permits.waitForWaiter() }
        cancelled.cancel()
        #expect(await cancelled.value == false)
        let closing = Task { await permits.waitForWaiter() }
        permits.close()
        #expect(await closing.value == false)
        #expect(!permits.tryAcquire(), "closed")
    }
}
