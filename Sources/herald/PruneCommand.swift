import ArgumentParser
import Foundation
import Herald

/// `herald prune`: forgets old finished deliveries.
struct PruneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Delete finished deliveries (and their attempts) older than a cut-off, in small batches.",
        discussion: """
            Only delivered, failed, dead and cancelled deliveries whose end is older than the cut-off are
            deleted (with their attempts and operator events), 1,000 per short transaction, skipping rows
            locked by anyone: safe while workers run. The cut-off is --older-than, except for an application
            with a retention (`herald applications set ID --retention 7d`), whose retention replaces it, shorter
            or longer. Messages past the cut-off left with no delivery go too. Circuit-breaker transitions older
            than --older-than go, and so do the heartbeat rows (`herald workers`) of workers stopped or silent
            for more than a day. Durations need a unit (30d, 12h, 1h30m): a bare number is refused.

            --payloads-older-than D drops the payload of messages older than D whose deliveries have all ended,
            and the body of directly enqueued deliveries that ended more than D ago, keeping every row (the
            audit trail stays; such deliveries can no longer be replayed).

            Run on a terminal, a prune that would delete more than half of all deliveries asks for --yes
            first (a cut-off typed wrong is the usual reason). --dry-run prints what would go and deletes nothing.

            Examples:
              herald prune --older-than 30d --dry-run
              herald prune --older-than 30d
              herald prune --older-than 12h --batch-size 500 --yes
              herald prune --older-than 90d --payloads-older-than 7d --json

            Exit codes: 0 success (prints how many); 1 database error, or confirmation needed (nothing deleted);
            64 invalid arguments.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Age cut-off with a unit, e.g. 30d, 12h, 1h30m.")
    var olderThan: String

    @Option(help: "Also drop payloads of ended deliveries and their messages older than this, keeping the rows, e.g. 7d.")
    var payloadsOlderThan: String?

    @Option(help: "Deliveries deleted per transaction, 1-10000.")
    var batchSize: Int = 1000

    @Flag(help: "Print what would be deleted; delete nothing.")
    var dryRun = false

    @Flag(help: "Delete even more than half of all deliveries without asking (the question is only asked on a terminal).")
    var yes = false

    @Flag(help: "Print JSON.")
    var json = false

    /// Heartbeat rows of workers silent (or stopped) this long go, whatever --older-than says: a worker
    /// that vanished is worth seeing the next morning, not for a month.
    static let silentWorkerAge: Duration = .seconds(86_400)

    func validate() throws {
        guard (1...10_000).contains(batchSize) else { throw ValidationError("--batch-size must be between 1 and 10000, got \(batchSize)") }
        do {
            _ = try DurationText.parse(olderThan, name: "--older-than")
            _ = try payloadsOlderThan.map { try DurationText.parse($0, name: "--payloads-older-than") }
        } catch let e as HeraldError { throw ValidationError(e.message) }
    }

    func run() async throws {
        try await CommandRunner.withDatabase(connection) { conn, schema, _ in
            let age = try DurationText.parse(olderThan, name: "--older-than")
            let payloadAge = try payloadsOlderThan.map { try DurationText.parse($0, name: "--payloads-older-than") }
            let store = DeliveryAdminStore(schema: schema)
            let preview = try await store.prunePreview(olderThan: age, payloadsOlderThan: payloadAge, on: conn)
            if dryRun {
                if json { return print(try JSONOutput.encode(preview)) }
                let span = preview.oldestFinishedAt.map { oldest in
                    " (finished \(TextTable.time(oldest)) to \(TextTable.time(preview.newestFinishedAt ?? oldest)))"
                } ?? ""
                print("would prune \(preview.deliveries) of \(TextTable.count(preview.totalDeliveries, "delivery", "deliveries"))\(span)")
                print("would prune \(TextTable.count(preview.breakerEvents, "breaker event", "breaker events"))")
                print("would prune \(TextTable.count(preview.messages, "message", "messages")) left with no delivery")
                if payloadsOlderThan != nil { print("would drop \(TextTable.count(preview.payloads, "payload", "payloads"))") }
                return
            }
            if preview.needsConfirmation, !yes, isatty(STDIN_FILENO) == 1 {
                throw HeraldError(
                    .conflict,
                    "this would delete \(preview.deliveries) of \(preview.totalDeliveries) deliveries (more than half): check --older-than \(olderThan), then add --yes; nothing was deleted")
            }
            let pruned = try await store.prune(olderThan: age, payloadsOlderThan: payloadAge, batchSize: batchSize, on: conn)
            let workers = try await WorkerHeartbeatStore(schema: schema).workerPrune(olderThan: Self.silentWorkerAge, on: conn)
            if json {
                struct Pruned: Encodable {
                    var deliveries: Int
                    var breakerEvents: Int
                    var workers: Int
                    var messages: Int
                    var messagePayloads: Int
                    var deliveryBodies: Int
                }
                return print(try JSONOutput.encode(Pruned(
                    deliveries: pruned.deliveries, breakerEvents: pruned.breakerEvents, workers: workers, messages: pruned.messages,
                    messagePayloads: pruned.messagePayloads, deliveryBodies: pruned.deliveryBodies)))
            }
            print("pruned \(TextTable.count(pruned.deliveries, "delivery", "deliveries")) finished more than \(olderThan) ago (or their application's retention)")
            print("pruned \(TextTable.count(pruned.breakerEvents, "breaker event", "breaker events"))")
            print("pruned \(TextTable.count(pruned.messages, "message", "messages")) left with no delivery")
            if payloadsOlderThan != nil {
                print("dropped \(TextTable.count(pruned.messagePayloads, "message payload", "message payloads")) and \(TextTable.count(pruned.deliveryBodies, "delivery body", "delivery bodies")) older than \(payloadsOlderThan ?? "")")
            }
            print("pruned \(TextTable.count(workers, "worker heartbeat", "worker heartbeats")) silent for more than a day")
        }
    }
}
