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

    @Test("a ring wakes one waiting slot, the longest waiting; ringAll wakes the rest")
    func wakesOne() async {
        let bell = Doorbell()
        let woken = Recorder()
        let ticket = await bell.ticket
        let first = Task { await bell.wait(after: ticket, upTo: .seconds(60)); await woken.add(1) }
        #expect(await eventually { await bell.waiting == 1 })
        let second = Task { await bell.wait(after: ticket, upTo: .seconds(60)); await woken.add(2) }
        #expect(await eventually { await bell.waiting == 2 })
        await bell.ring()
        #expect(await eventually { await woken.items == [1] })
        #expect(await bell.waiting == 1)
        await bell.ringAll()
        #expect(await eventually { await woken.items == [1, 2] })
        _ = await (first.value, second.value)
    }

    @Test("a ring while nobody waits is not lost: a slot holding an older ticket does not sleep")
    func ringBeforeWait() async {
        let bell = Doorbell()
        let ticket = await bell.ticket
        await bell.ring()
        let done = Recorder()
        let waiter = Task { await bell.wait(after: ticket, upTo: .seconds(60)); await done.add(1) }
        #expect(await eventually { await done.items == [1] })
        #expect(await bell.waiting == 0)
        await waiter.value
    }

    @Test("ring(n) wakes up to n slots; close wakes all and later waits return at once")
    func ringManyAndClose() async {
        let bell = Doorbell()
        let woken = Recorder()
        let ticket = await bell.ticket
        let tasks = (0..<3).map { n in Task { await bell.wait(after: ticket, upTo: .seconds(60)); await woken.add(n) } }
        #expect(await eventually { await bell.waiting == 3 })
        await bell.ring(2)
        #expect(await eventually { await woken.items.count == 2 })
        await bell.close()
        #expect(await eventually { await woken.items.count == 3 })
        let late = await bell.ticket
        await bell.wait(after: late, upTo: .seconds(60))  // returns at once: closed
        for task in tasks { await task.value }
    }
}
