@testable import Herald
import Testing

/// The set of rows a worker's slots hold, passed with each lease (migrations/0031).
@Suite("Leased rows")
struct LeasedRowsTests {
    @Test("rows are held from insert to remove; one slot's removal leaves the others' rows")
    func insertAndRemove() {
        let rows = LeasedRows()
        rows.insert([5, 3])
        rows.insert([9])
        #expect(Set(rows.snapshot()) == [3, 5, 9])
        rows.remove([5, 3])
        #expect(rows.snapshot() == [9])
        rows.remove([])
        rows.insert([])
        #expect(rows.count == 1)
        rows.remove([9, 42])
        #expect(rows.snapshot().isEmpty)
    }

    @Test("a row leased again before the first round's remove stays held until both rounds removed it")
    func countedRounds() {
        let rows = LeasedRows()
        rows.insert([7])
        rows.insert([7])
        rows.remove([7])
        #expect(rows.snapshot() == [7], "the second round still holds it")
        rows.remove([7])
        #expect(rows.snapshot().isEmpty)
    }

    @Test("past its limit a snapshot holds the oldest (smallest) ids, nearest the head of the due index")
    func boundedSnapshot() {
        let rows = LeasedRows(limit: 3)
        rows.insert([40, 10, 30, 20, 50])
        #expect(rows.count == 5, "every row is held; only what goes with a lease is bounded")
        #expect(rows.snapshot() == [10, 20, 30])
        rows.remove([10])
        #expect(rows.snapshot() == [20, 30, 40])
    }
}
