@testable import Herald
@testable import HeraldConfiguration
import Testing

/// The worker's byte budget for large bodies, and sizes as operators write them.
@Suite("Byte budget")
struct ByteBudgetTests {
    @Test("reserves in order while bodies fit; what does not fit waits; release frees it")
    func reservesInOrder() {
        let budget = ByteBudget(capacity: 10)
        #expect(budget.reserve([4, 4, 4]) == (2, 8))
        #expect(budget.reserve([3]) == (0, 0), "2 bytes left: a 3-byte body waits")
        #expect(budget.reserve([2, 1]) == (1, 2), "in order: the first that does not fit stops the rest")
        budget.release(8)
        #expect(budget.inUse == 2)
        #expect(budget.reserve([8]) == (1, 8))
        budget.release(10)
        #expect(budget.inUse == 0)
    }

    @Test("a body larger than the whole budget goes alone when nothing else is reserved, never starved")
    func oversizedGoesAlone() {
        let budget = ByteBudget(capacity: 10)
        #expect(budget.reserve([50, 1]) == (1, 50), "alone: the next one waits")
        #expect(budget.reserve([1]) == (0, 0), "over budget: nothing more")
        budget.release(50)
        #expect(budget.reserve([1, 50]) == (1, 1), "not alone: the big one waits for an empty budget")
    }

    @Test("sizes: bytes and binary units in, the largest exact unit out", arguments: [
        ("65536", 65_536), ("64KiB", 65_536), ("64MiB", 67_108_864), ("64 MiB", 67_108_864), ("2GiB", 2_147_483_648),
        ("1mb", 1_048_576), ("512k", 524_288),
    ])
    func sizes(text: String, bytes: Int) {
        #expect(ByteSizeText.parse(text) == bytes)
        #expect(ByteSizeText.parse(ByteSizeText.text(bytes)) == bytes)
    }

    @Test("not sizes", arguments: ["", "MiB", "-1MiB", "1.5MiB", "64 lots", "99999999999999999999GiB"])
    func notSizes(text: String) {
        #expect(ByteSizeText.parse(text) == nil)
    }

    @Test("max_in_flight_bytes: default 64MiB, refused with the expected form")
    func setting() throws {
        #expect(WorkerSetting.named("max_in_flight_bytes")?.defaultText == "64MiB")
        let settings = try WorkerSettingsResolver(environment: ["HERALD_MAX_IN_FLIGHT_BYTES": "8MiB"]).resolve()
        #expect(settings.configuration.maxInFlightBytes == 8 << 20)
        #expect(throws: HeraldError.self) { try WorkerSettingsResolver(flags: ["max_in_flight_bytes": "lots"]).resolve() }
        #expect(throws: HeraldError.self) { try WorkerSettingsResolver(flags: ["max_in_flight_bytes": "1KiB"]).resolve() }
    }
}
