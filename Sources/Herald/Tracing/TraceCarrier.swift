internal import Foundation
public import Tracing

/// Moves trace context between Herald's stored `traceparent` values and the bootstrapped tracer.
///
/// Herald reads and writes one header, `traceparent` (W3C), through whatever instrument `herald` bootstrapped
/// (swift-otel when `OTEL_*` asks for export; otherwise the no-op one, and these calls do nothing).
public enum TraceCarrier {
    /// Whether a real tracer is bootstrapped: spans cost nothing to skip when nobody exports them.
    static var isTracing: Bool { !(InstrumentationSystem.tracer is NoOpTracer) }

    /// The context a producer's stored `traceparent` names (top level when there is none or it is malformed).
    static func context(fromTraceparent traceparent: String?) -> ServiceContext {
        var context = ServiceContext.topLevel
        if let traceparent {
            InstrumentationSystem.instrument.extract(["traceparent": traceparent], into: &context, using: DictionaryExtractor())
        }
        return context
    }

    /// The `traceparent` that continues `context` (nil when the instrument injects none: no tracer).
    public static func traceparent(of context: ServiceContext) -> String? {
        var carrier: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &carrier, using: DictionaryInjector())
        return carrier["traceparent"]
    }

    struct DictionaryExtractor: Extractor {
        func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
    }

    struct DictionaryInjector: Injector {
        func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
    }
}
