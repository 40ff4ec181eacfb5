import Foundation
import Herald
import HeraldTestSupport
import PGDriver
import Testing

/// The rate limit measured at the receiver. Like the wake-up latency, it is timing: `make test` runs it on
/// an otherwise idle machine after the parallel suites, because a worker starved of CPU starts a reserved
/// send late, and a late start can land in the next second at the receiver (docs/flow_control.md).
@Suite("Rate limit timing")
struct RateLimitTimingTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    func stopAll(_ workers: [HeraldProcess]) async throws {
        let statuses = try await workers.terminateAll()
        for (w, status) in zip(workers, statuses) { #expect(status == 0, "worker output: \(w.output.suffix(2000))") }
    }

    @Test("--rate-limit 50/s with 3 processes: no one-second window above rate + burst, and the rate is used")
    func rateLimit() async throws {
        let receiver = try await TestReceiver.start()
        let (schema, conn) = try await pg.migratedSchema("fc")
        try await conn.enqueueMany(schema: schema, url: receiver.url("/rated"), count: 400)
        let set = try await HeraldBinary.run(
            ["endpoints", "set", receiver.url("/rated"), "--rate-limit", "50/s", "--schema", schema], environment: ["DATABASE_URL": pg.url])
        #expect(set.status == 0, "\(set.stderr)")
        #expect(set.stdout.contains("50/s (burst 5)"))
        let workers = try (0..<3).map { _ in try HeraldProcess.worker(pg, schema: schema) }
        try await Wait.until("400 delivered", timeout: .seconds(60)) {
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE state = 'delivered'") == 400
        }
        try await stopAll(workers)
        let times = receiver.requests(path: "/rated").map(\.receivedAt).sorted()
        #expect(times.count == 400)
        // The most requests that arrived within any one second (a sliding window over arrival times).
        var busiest = 0
        var start = 0
        for end in times.indices {
            while times[end].timeIntervalSince(times[start]) >= 1 { start += 1 }
            busiest = max(busiest, end - start + 1)
        }
        let bound = try RateLimit(parsing: "50/s").perSecondBound
        #expect(busiest <= bound, "busiest second: \(busiest) requests, documented bound \(bound)")
        let span = times.last!.timeIntervalSince(times.first!)
        #expect(span >= 7.5, "400 requests at 50/s take about 8 s, took \(span)")
        #expect(span <= 12, "the rate is used: 400 requests took \(span) s")
        await receiver.stop()
        await conn.close()
    }

}
