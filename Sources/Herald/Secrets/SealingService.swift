internal import Logging
internal import PGDriver

/// Seals, every few seconds, what was stored in clear since the last pass (the SQL `enqueue` cannot
/// encrypt: producers hand it headers in clear, and it creates endpoints with fresh secrets).
///
/// Runs in each worker whose `HERALD_ENCRYPTION_KEY` is set, on a connection of its own; several workers
/// sealing at once is harmless, since a row is only written if it still holds what was read.
struct SealingService: Sendable {
    let connectionString: String
    let sealer: SecretSealer
    let interval: Duration
    let logger: Logger
    /// Ids revisited on every pass (see ``SecretSealer/Progress/rewind(by:)``): enqueues that commit this
    /// far behind a newer one are still sealed within a pass.
    static let overlap: Int64 = 2000

    func run() async {
        var connection: PGConnection?
        var progress = SecretSealer.Progress()
        var reported = 0
        while !Task.isCancelled {
            do {
                if connection == nil || connection!.isClosed {
                    connection = try await PGConnection.connect(connectionString, applicationName: "herald-sealer", logger: logger)
                }
                while try await sealer.sealBatch(&progress, on: connection!), !Task.isCancelled {}
                progress.rewind(by: Self.overlap)
                if progress.sealed > reported {
                    logger.info("sealed secrets and headers stored in clear", metadata: ["sealed": "\(progress.sealed - reported)", "key_id": "\(sealer.keys.currentID)"])
                    reported = progress.sealed
                }
            } catch is CancellationError {
                break
            } catch {
                logger.warning("sealing secrets failed; retrying", metadata: ["error": "\(error)"])
                await connection?.close()
                connection = nil
            }
            try? await Task.sleep(for: interval)
        }
        await connection?.close()
    }
}
