internal import W3CTraceContext

/// The trace context of one attempt: a child span of the producer's, whose `traceparent` goes to the
/// receiver, so one trace runs from the producer's transaction to the customer's endpoint.
///
/// Why a new span id per attempt: the receiver's own spans then hang under the attempt that reached it
/// (a retry is a sibling of the first try, not the same span), and the producer's span id, which names a
/// span inside the producer, is never claimed by Herald. The trace id and flags (sampling) are kept.
struct AttemptTrace: Sendable, Equatable {
    /// The `traceparent` value sent to the receiver.
    let traceparent: String
    /// The trace's id (32 hex digits), for log lines of the same work.
    let traceID: String
    /// This attempt's span id (16 hex digits).
    let spanID: String

    /// The child of `producer` (a `traceparent` value); nil when there is none or it does not parse.
    init?<G: RandomNumberGenerator>(childOf producer: String?, using random: inout G) {
        guard let producer, let parent = try? TraceContext(traceParentHeaderValue: producer) else { return nil }
        let child = TraceContext(traceID: parent.traceID, spanID: .random(using: &random), flags: parent.flags, state: parent.state)
        traceparent = child.traceParentHeaderValue
        let parts = traceparent.split(separator: "-")
        traceID = parts.count == 4 ? String(parts[1]) : ""
        spanID = parts.count == 4 ? String(parts[2]) : ""
    }

    /// The context a tracer made for this attempt (`traceparent` as its instrument injected it).
    init?(sending traceparent: String) {
        guard let context = try? TraceContext(traceParentHeaderValue: traceparent) else { return nil }
        self.traceparent = context.traceParentHeaderValue
        let parts = self.traceparent.split(separator: "-")
        traceID = parts.count == 4 ? String(parts[1]) : ""
        spanID = parts.count == 4 ? String(parts[2]) : ""
    }

    /// Header names Herald sets itself when it sends a trace context: a stored header of the same name goes.
    static let headerNames: Set<String> = ["traceparent", "tracestate"]
}
