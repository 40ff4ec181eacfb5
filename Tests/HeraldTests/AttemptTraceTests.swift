import Testing

@testable import Herald

/// The attempt's child span of the producer's trace context.
@Suite("Attempt trace context")
struct AttemptTraceTests {
    let producer = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    @Test("a child keeps the trace id and flags, with a new span id of its own")
    func child() throws {
        var random = SeededRandom(seed: 7)
        let a = try #require(AttemptTrace(childOf: producer, using: &random))
        let b = try #require(AttemptTrace(childOf: producer, using: &random))
        #expect(a.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(a.traceparent.hasPrefix("00-4bf92f3577b34da6a3ce929d0e0e4736-"))
        #expect(a.traceparent.hasSuffix("-01"))
        #expect(a.spanID.count == 16 && a.spanID != "00f067aa0ba902b7")
        #expect(a.spanID != b.spanID, "each attempt is a span of its own")
        let unsampled = try #require(AttemptTrace(childOf: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", using: &random))
        #expect(unsampled.traceparent.hasSuffix("-00"), "the sampling decision is the producer's")
    }

    @Test("no trace context, or one that does not parse: no child, nothing sent", arguments: [nil, "", "garbage", "00-xyz-abc-01"] as [String?])
    func none(value: String?) {
        var random = SeededRandom(seed: 1)
        #expect(AttemptTrace(childOf: value, using: &random) == nil)
    }
}
