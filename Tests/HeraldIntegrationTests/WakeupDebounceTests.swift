import HeraldTestSupport
import PGDriver
import Testing

/// Migration 0019: a committing transaction notifies the workers only if no other notifying transaction
/// holds the wake-up lock at that moment; a wake-up it skips is covered by the worker's poll.
///
/// Absence of a notification is shown without sleeping: after the commit under test, another session sends
/// a marker notification on the same channel. Notifications arrive in commit order, so once the marker is
/// in, every notification the earlier commit sent is in too.
@Suite("Wake-ups: one notifier at a time, and the poll covers a skipped one")
struct WakeupDebounceTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    func stopAll(_ workers: [HeraldProcess]) async throws {
        let statuses = try await workers.terminateAll()
        for (w, status) in zip(workers, statuses) { #expect(status == 0, "worker output: \(w.output.suffix(2000))") }
    }

    /// The notifications on `channel` up to and including a marker sent after everything before it committed.
    private func notificationsUntilMarker(_ listener: PGConnection, channel: String, from sender: PGConnection) async throws -> [PGNotification] {
        try await sender.query("SELECT pg_notify(\(channel), 'marker')")
        var notes: [PGNotification] = []
        try await Wait.until("the marker notification") {
            notes += try await listener.waitForNotifications(timeout: .milliseconds(200))
            return notes.contains { $0.payload == "marker" }
        }
        return notes.filter { $0.payload != "marker" }
    }

    @Test("uncontended: every enqueuing commit notifies once, a fan-out of several rows once")
    func everyCommitNotifies() async throws {
        let (schema, conn) = try await pg.migratedSchema("wake")
        let channel = "\(schema).enqueued"
        let listener = try await pg.connect()
        try await listener.listen(channel)
        for n in 1...3 {
            try await conn.query("SELECT \(unescaped: schema).enqueue(\("https://hook.example/w\(n)"), '\\x7b7d'::bytea)")
        }
        // One transaction queuing three rows: one notification.
        try await conn.query(PGQuery(sql: "BEGIN"))
        for n in 4...6 {
            try await conn.query("SELECT \(unescaped: schema).enqueue(\("https://hook.example/w\(n)"), '\\x7b7d'::bytea)")
        }
        try await conn.query(PGQuery(sql: "COMMIT"))
        let notes = try await notificationsUntilMarker(listener, channel: channel, from: conn)
        #expect(notes.count == 4, "\(notes)")
        #expect(notes.allSatisfy { $0.channel == channel })
        // No function notifies on its own any more: the trigger is the only notifier.
        let notifiers = try await conn.query("""
            SELECT string_agg(p.proname, ',' ORDER BY p.proname) AS names FROM pg_proc p
            WHERE p.pronamespace = \(schema)::regnamespace AND p.prosrc LIKE '%pg_notify%'
            """).first?.decode("names", as: String.self)
        #expect(notifiers == "wake_workers")
        await listener.close()
        await conn.close()
    }

    @Test("while another notifier holds the wake-up lock a commit skips its notification, and the poll delivers it")
    func skippedWakeupIsCoveredByThePoll() async throws {
        let receiver = try await TestReceiver.start()
        let (schema, conn) = try await pg.migratedSchema("wake")
        let channel = "\(schema).enqueued"
        let listener = try await pg.connect()
        try await listener.listen(channel)
        // An idle worker that polls every 300 ms, started before anything is queued.
        let worker = try HeraldProcess.worker(pg, schema: schema, ["--poll-interval", "300ms"])
        try await Wait.until("the worker is up (its heartbeat row)") {
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).worker_heartbeats") == 1
        }
        // A notifier stuck at its commit: the wake-up lock held by another session.
        let holder = try await pg.connect()
        try await holder.query("SELECT pg_advisory_lock(hashtext(\(schema + ":wake-up")), 0)")
        try await conn.query("SELECT \(unescaped: schema).enqueue(\(receiver.url("/polled")), '\\x7b7d'::bytea)")
        let skipped = try await notificationsUntilMarker(listener, channel: channel, from: conn)
        #expect(skipped.isEmpty, "the commit left the wake-up to the lock's holder: \(skipped)")
        try await Wait.until("delivered by the poll", timeout: .seconds(20)) {
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE state = 'delivered'") == 1
        }
        // Once the lock is free, commits notify again.
        try await holder.query("SELECT pg_advisory_unlock(hashtext(\(schema + ":wake-up")), 0)")
        try await conn.query("SELECT \(unescaped: schema).enqueue(\(receiver.url("/notified")), '\\x7b7d'::bytea)")
        let notified = try await notificationsUntilMarker(listener, channel: channel, from: conn)
        #expect(notified.count == 1, "\(notified)")
        try await Wait.until("the second delivered", timeout: .seconds(20)) {
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE state = 'delivered'") == 2
        }
        try await stopAll([worker])
        await holder.close()
        await listener.close()
        await receiver.stop()
        await conn.close()
    }
}
