import ArgumentParser
import Foundation
import Herald

/// `herald prune`: forgets old finished deliveries.
struct PruneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Delete finished deliveries (and their attempts) older than a cut-off, in small batches.",
        discussion: """
            Only delivered, failed, dead and cancelled deliveries whose end is older than --older-than are
            deleted, 1,000 per short transaction, skipping rows locked by anyone: safe while workers run.

            Examples:
              herald prune --older-than 30d
              herald prune --older-than 12h --batch-size 500

            Exit codes: 0 success (prints how many); 1 database error; 64 invalid arguments.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Age cut-off, e.g. 30d, 12h.")
    var olderThan: String

    @Option(help: "Deliveries deleted per transaction, 1-10000.")
    var batchSize: Int = 1000

    func validate() throws {
        guard (1...10_000).contains(batchSize) else { throw ValidationError("--batch-size must be between 1 and 10000, got \(batchSize)") }
        do { _ = try DurationText.parse(olderThan, name: "--older-than") } catch let e as HeraldError { throw ValidationError(e.message) }
    }

    func run() async throws {
        try await CommandRunner.withDatabase(connection) { conn, schema, _ in
            let age = try DurationText.parse(olderThan, name: "--older-than")
            let count = try await DeliveryAdminStore(schema: schema).prune(olderThan: age, batchSize: batchSize, on: conn)
            print("pruned \(count) deliveries finished more than \(olderThan) ago")
        }
    }
}
