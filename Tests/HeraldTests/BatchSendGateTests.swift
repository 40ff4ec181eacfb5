@testable import Herald
import Testing

@Suite("Batch send gate")
struct BatchSendGateTests {
    func gate(_ counts: [String: Int], threshold: Int = 5, failures: [String: Int] = [:]) -> BatchSendGate<String> {
        var items: [(key: String, threshold: Int, failures: Int, item: String)] = []
        for key in counts.keys.sorted() {
            for n in 0..<counts[key]! { items.append((key, threshold, failures[key] ?? 0, "\(key)\(n)")) }
        }
        return BatchSendGate(items)
    }

    @Test("a dead endpoint gets exactly threshold sends out of a batch of 64; the rest are held back")
    func deadEndpoint() {
        var g = gate(["down": 64])
        let first = g.admit()
        #expect(first.count == 5)
        for _ in first { g.finished(key: "down", success: false) }
        #expect(g.admit().isEmpty)
        #expect(g.heldBack.count == 59)
    }

    @Test("failures the lease already saw shrink the window: 3 of 5 on record leaves 2 sends")
    func priorFailures() {
        var g = gate(["down": 10], failures: ["down": 3])
        let first = g.admit()
        #expect(first.count == 2)
        for _ in first { g.finished(key: "down", success: false) }
        #expect(g.admit().isEmpty)
        #expect(g.heldBack.count == 8)
    }

    @Test("a healthy endpoint's window grows with each success until the whole batch is out")
    func slowStart() {
        var g = gate(["ok": 64])
        var waves: [Int] = []
        var sent = 0
        while sent < 64 {
            let wave = g.admit()
            #expect(!wave.isEmpty)
            waves.append(wave.count)
            sent += wave.count
            for _ in wave { g.finished(key: "ok", success: true) }
        }
        #expect(waves == [5, 10, 20, 29])
        #expect(g.heldBack.isEmpty)
    }

    @Test("keys are paced independently: a dead one does not hold back a healthy one")
    func independentKeys() {
        var g = gate(["down": 8, "ok": 3])
        let first = g.admit()
        #expect(first.filter { $0.hasPrefix("down") }.count == 5)
        #expect(first.filter { $0.hasPrefix("ok") }.count == 3)
        for item in first { g.finished(key: item.hasPrefix("ok") ? "ok" : "down", success: item.hasPrefix("ok")) }
        #expect(g.admit().isEmpty)
        #expect(g.heldBack == ["down5", "down6", "down7"])
    }

    @Test("4xx answers neither count nor widen; a success after failures resets the count")
    func neutralAndReset() {
        var g = gate(["mixed": 8], threshold: 2)
        var wave = g.admit()
        #expect(wave == ["mixed0", "mixed1"])
        g.finished(key: "mixed", success: false)
        g.finished(key: "mixed", success: nil)
        // One failure on record: window 1.
        wave = g.admit()
        #expect(wave == ["mixed2"])
        g.finished(key: "mixed", success: true)
        // Count reset, one success: window 3.
        wave = g.admit()
        #expect(wave.count == 3)
        for _ in wave { g.finished(key: "mixed", success: false) }
        #expect(g.admit().isEmpty)
        #expect(g.heldBack.count == 2)
    }

    @Test("a breaker the lease saw at its threshold (a half-open probe) still gets one send")
    func probeAlwaysGoes() {
        var g = gate(["probe": 1], failures: ["probe": 5])
        #expect(g.admit() == ["probe0"])
        g.finished(key: "probe", success: false)
        #expect(g.heldBack.isEmpty)
    }
}
