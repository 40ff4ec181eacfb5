internal import Foundation
internal import Logging
internal import PGDriver

/// Samples queue depth, lag and open breakers into the metrics every few seconds, in one worker of the
/// fleet.
///
/// Sampled on a timer rather than on every scrape, so a scraper polling fast never adds queries. Only the
/// worker holding the schema's sampler lock (``StatusStore/samplerLeadTry(on:)``) samples; the others
/// export zeros, so `max()` (the alert rules) and `sum()` across workers both read the fleet's numbers.
/// With many workers and a long audit history, every worker counting every state every 10 s was a
/// full scan each (issue #15).
///
/// Every worker, leader or not, also writes its ``EndpointMinutesRecorder``'s counts on this connection at
/// each sample, and the leader deletes the rows past their retention: one connection per worker does both.
struct QueueSampler: Sendable {
    let connectionString: String
    let schema: SchemaName
    let metrics: HeraldMetrics
    let interval: Duration
    let contact: DatabaseContact
    let logger: Logger
    let minutes: EndpointMinutesRecorder

    func run() async {
        var connection: PGConnection?
        // Whether this connection's session holds the sampler lock; a new connection must take it again.
        var leading = false
        while !Task.isCancelled {
            do {
                if connection == nil || connection!.isClosed {
                    connection = try await PGConnection.connect(connectionString, applicationName: "herald-sampler", logger: logger)
                    leading = false
                }
                let store = StatusStore(schema: schema)
                let minutesStore = EndpointMinutesStore(schema: schema)
                try await minutes.write(store: minutesStore, on: connection!)
                if !leading { leading = try await store.samplerLeadTry(on: connection!) }
                contact.record()
                guard leading else {
                    for meter in metrics.queueDepth.values { meter.set(0) }
                    metrics.queueLag.set(0)
                    metrics.breakersOpen.set(0)
                    metrics.workersLive.set(0)
                    try? await Task.sleep(for: interval)
                    continue
                }
                _ = try await connection!.query(minutesStore.pruneQuery)
                let status = try await store.status(on: connection!)
                for (state, meter) in metrics.queueDepth { meter.set(Double(status.states[state] ?? 0)) }
                metrics.queueLag.set(status.lagSeconds)
                metrics.breakersOpen.set(Double(status.openBreakers.count))
                metrics.workersLive.set(Double(status.liveWorkers))
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
