internal import Foundation
internal import Tracing

/// The spans of one lease round that leased something, made only when a tracer is bootstrapped.
///
/// Two kinds, because a round serves many traces at once:
/// - the round's own trace: `herald.round` with `herald.lease.query`, `herald.journal` and `herald.complete`
///   (the three round trips), made after the fact with their measured instants, so idle polls make none;
/// - per delivery sent, `herald.lease` as a child of the producer's span (from the lease's start until the
///   commit that records the outcome: the time the row was held), linked to `herald.round`, and under it
///   `webhook.attempt`, the HTTP send (``DeliverySlot/attempt(_:attemptID:startBy:parent:)``).
///
/// So one trace reads producer → `herald.lease` → `webhook.attempt` → the receiver's own spans.
/// Every span started here is ended exactly once, on success or failure (``end(error:)``).
final class RoundSpans: Sendable {
    let round: any Span
    let leaseStart: DefaultTracerClock.Instant
    private let deliveries: [Int64: any Span]

    private init(round: any Span, leaseStart: DefaultTracerClock.Instant, deliveries: [Int64: any Span]) {
        self.round = round
        self.leaseStart = leaseStart
        self.deliveries = deliveries
    }

    /// Starts the round's spans (nil when no tracer is bootstrapped): the round and its finished lease query,
    /// and one `herald.lease` span per delivery to send, each under its producer's trace.
    static func begin(
        slot: Int, workerID: String, leaseStart: DefaultTracerClock.Instant, leaseAnswered: DefaultTracerClock.Instant,
        leased: Int, sending: [LeasedDelivery]
    ) -> RoundSpans? {
        guard TraceCarrier.isTracing else { return nil }
        let round = startSpan("herald.round", context: .topLevel, ofKind: .internal, at: leaseStart)
        round.attributes["herald.slot"] = slot
        round.attributes["herald.worker_id"] = workerID
        round.attributes["herald.batch.leased"] = leased
        round.attributes["herald.batch.sending"] = sending.count
        let query = startSpan("herald.lease.query", context: round.context, ofKind: .client, at: leaseStart)
        query.attributes["db.system.name"] = "postgresql"
        query.attributes["db.operation.name"] = "delivery_lease"
        query.end(at: leaseAnswered)
        var spans: [Int64: any Span] = [:]
        for delivery in sending {
            let span = startSpan(
                "herald.lease", context: TraceCarrier.context(fromTraceparent: delivery.traceparent), ofKind: .consumer, at: leaseStart)
            span.attributes["webhook.id"] = delivery.idempotencyKey
            span.attributes["herald.delivery_id"] = delivery.id
            span.attributes["herald.endpoint_id"] = delivery.endpointID
            span.attributes["herald.application_id"] = delivery.applicationID
            span.attributes["herald.batch.leased"] = leased
            span.addLink(SpanLink(context: round.context, attributes: [:]))
            spans[delivery.id] = span
        }
        return RoundSpans(round: round, leaseStart: leaseStart, deliveries: spans)
    }

    /// The context an attempt of `deliveryID` starts under (its `herald.lease` span).
    func parent(of deliveryID: Int64) -> ServiceContext? { deliveries[deliveryID]?.context }

    /// Records a finished round trip of the round (`herald.journal`, `herald.complete`).
    func stage(_ name: String, from start: DefaultTracerClock.Instant, error: (any Error)? = nil) {
        let span = startSpan(name, context: round.context, ofKind: .client, at: start)
        span.attributes["db.system.name"] = "postgresql"
        if let error { span.setStatus(SpanStatus(code: .error, message: Self.describe(error))) }
        span.end()
    }

    /// Ends the round and every delivery's lease span (now: after the commit, or when the round failed).
    func end(sent: Int? = nil, error: (any Error)? = nil) {
        if let sent { round.attributes["herald.batch.sent"] = sent }
        let status = error.map { SpanStatus(code: .error, message: Self.describe($0)) }
        for span in deliveries.values {
            if let status { span.setStatus(status) }
            span.end()
        }
        if let status { round.setStatus(status) }
        round.end()
    }

    /// An error as a span may carry it: the type and a redacted, bounded description.
    static func describe(_ error: any Error) -> String { Redactor.redact("\(error)", limit: 256) }
}
