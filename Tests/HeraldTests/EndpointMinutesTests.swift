import Foundation
import Testing

@testable import Herald

@Suite("Endpoint minutes: per-minute send counts for endpoint_health")
struct EndpointMinutesTests {
    @Test("a duration's bucket is the number of edges at or below it (PostgreSQL's width_bucket)")
    func buckets() {
        #expect(EndpointMinutes.bucket(milliseconds: 0) == 0)
        #expect(EndpointMinutes.bucket(milliseconds: 9) == 0)
        #expect(EndpointMinutes.bucket(milliseconds: 10) == 1)
        #expect(EndpointMinutes.bucket(milliseconds: 24) == 1)
        #expect(EndpointMinutes.bucket(milliseconds: 29_999) == 10)
        #expect(EndpointMinutes.bucket(milliseconds: 30_000) == 11)
        #expect(EndpointMinutes.bucket(milliseconds: Int.max) == 11)
    }

    @Test("sends are counted per endpoint and started minute; delivered and durations add up")
    func record() {
        var minutes = EndpointMinutes()
        let t = Date(timeIntervalSince1970: 1_800_000_030)  // 30 s into a minute
        minutes.record(endpointID: 7, at: t, delivered: true, durationMilliseconds: 40)
        minutes.record(endpointID: 7, at: t.addingTimeInterval(29), delivered: false, durationMilliseconds: 3000)
        minutes.record(endpointID: 7, at: t.addingTimeInterval(30), delivered: true, durationMilliseconds: 5)
        minutes.record(endpointID: 3, at: t, delivered: true, durationMilliseconds: -1)
        let rows = minutes.rows
        let expected: [EndpointMinutes.Key] = [
            .init(endpointID: 3, minute: 1_800_000_000), .init(endpointID: 7, minute: 1_800_000_000), .init(endpointID: 7, minute: 1_800_000_060),
        ]
        #expect(rows.map(\.key) == expected)
        let seven = rows[1].counts
        #expect(seven.attempts == 2)
        #expect(seven.delivered == 1)
        #expect(seven.durations == [0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0])
        #expect(rows[0].counts.durations[0] == 1, "a negative duration counts as 0 ms")
    }

    @Test("a failed write put back adds to what was counted meanwhile, and keeps only the newest minutes past the bound")
    func merge() {
        var a = EndpointMinutes()
        var b = EndpointMinutes()
        let t = Date(timeIntervalSince1970: 1_800_000_000)
        a.record(endpointID: 1, at: t, delivered: true, durationMilliseconds: 40)
        b.record(endpointID: 1, at: t, delivered: false, durationMilliseconds: 40)
        a.merge(b)
        #expect(a.rows.count == 1)
        let counts = a.rows[0].counts
        #expect(counts.attempts == 2)
        #expect(counts.delivered == 1)
        #expect(counts.durations[2] == 2)

        var many = EndpointMinutes()
        for minute in 0..<(EndpointMinutes.maxRows + 10) {
            many.record(endpointID: 1, at: t.addingTimeInterval(Double(minute) * 60), delivered: true, durationMilliseconds: 1)
        }
        var merged = EndpointMinutes()
        merged.merge(many)
        #expect(merged.rows.count == EndpointMinutes.maxRows)
        let oldest: Int64? = merged.rows.first?.key.minute
        #expect(oldest == Int64(1_800_000_000 + 10 * 60), "the 10 oldest minutes went")
    }
}
