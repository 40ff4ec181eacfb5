import Testing

@testable import Herald

@Suite("Slot permits and the straggler rule")
struct SlotPermitsTests {
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
}
