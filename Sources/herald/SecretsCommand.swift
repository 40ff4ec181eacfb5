import ArgumentParser
import Foundation
import Herald

/// `herald secrets`: encryption at rest of signing secrets and producer headers.
struct SecretsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secrets",
        abstract: "Encryption at rest of endpoint secrets and delivery headers.",
        subcommands: [RotateKey.self]
    )

    struct RotateKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-key",
            abstract: "Seal every secret and header with the first key of HERALD_ENCRYPTION_KEY, in batches.",
            discussion: """
                HERALD_ENCRYPTION_KEY holds base64 keys of 32 random bytes separated by commas (openssl rand -base64 32).
                The first seals; all open. To rotate: put the new key first and keep the old one after it, run
                this command, then drop the old key. It also seals values stored in clear (written before a key
                was set, or by the SQL enqueue function). Safe while workers run: a row is only rewritten if it
                still holds what was read.

                Examples:
                  HERALD_ENCRYPTION_KEY="$NEW,$OLD" herald secrets rotate-key

                Exit codes: 0 done; 1 database error or a value no given key opens; 64 invalid arguments.
                """
        )

        @OptionGroup var connection: ConnectionOptions

        @Option(help: "Rows read per table and batch, 1-10000.")
        var batchSize: Int = 500

        func validate() throws {
            guard (1...10_000).contains(batchSize) else { throw ValidationError("--batch-size must be between 1 and 10000, got \(batchSize)") }
            do {
                guard try EncryptionKeys.from() != nil else { throw ValidationError("set HERALD_ENCRYPTION_KEY (openssl rand -base64 32) first") }
            } catch let error as HeraldError {
                throw ValidationError(error.message)
            }
        }

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                guard let keys = try EncryptionKeys.from() else { return }
                let sealer = SecretSealer(keys: keys, schema: schema, batchSize: batchSize)
                var progress = SecretSealer.Progress()
                while try await sealer.sealBatch(&progress, on: conn) {}
                print("sealed \(progress.sealed) value(s) with key \(keys.currentID)")
            }
        }
    }
}
