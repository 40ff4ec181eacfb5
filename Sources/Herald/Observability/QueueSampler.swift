internal import Foundation
internal import Logging
internal import PGDriver

/// Samples queue depth, lag and open breakers into the metrics every few seconds.
///
/// Sampled on a timer rather than on every scrape, so a scraper polling fast never adds queries, and
/// every worker's numbers come from the same statement.
struct QueueSampler: Sendable {
    let connectionString: String
    let schema: SchemaName
    let metrics: HeraldMetrics
    let interval: Duration
    let contact: DatabaseContact
    let logger: Logger

    func run() async {
        var connection: PGConnection?
        while !Task.isCancelled {
            do {
                if connection == nil || connection!.isClosed {
                    connection = try await PGConnection.connect(connectionString, applicationName: "herald-sampler", logger: logger)
                }
                let status = try await StatusStore(schema: schema).status(on: connection!)
                contact.record()
                for (state, meter) in metrics.queueDepth { meter.set(Double(status.states[state] ?? 0)) }
                metrics.queueLag.set(status.lagSeconds)
                metrics.breakersOpen.set(Double(status.openBreakers.count))
            } catch is CancellationError {
                break
            } catch {
                logger.debug("queue sampling failed", metadata: ["error": "\(error)"])
                await connection?.close()
                connection = nil
            }
            try? await Task.sleep(for: interval)
        }
        await connection?.close()
    }
}
