internal import Foundation
public import Logging
internal import OTel
public import ServiceLifecycle
internal import Tracing

/// Turns on OTLP export of Herald's spans when the standard `OTEL_*` variables ask for it; off otherwise.
///
/// Why off by default: an exporter that nobody reads costs every worker a batch processor and a failing
/// connection attempt per batch. Export starts when `OTEL_TRACES_EXPORTER` names an exporter (`otlp`,
/// `console`) or an OTLP endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`),
/// unless `OTEL_SDK_DISABLED=true`. Only traces are bootstrapped: Herald's logs and metrics keep their own
/// handlers (JSON or text lines, Prometheus), whatever `OTEL_LOGS_EXPORTER` or `OTEL_METRICS_EXPORTER` say.
/// Everything else (protocol `http/protobuf` or `http/json`, headers, sampler, batch sizes, service name)
/// is swift-otel's reading of the same variables.
public enum TelemetrySetup {
    /// Whether `environment` asks for span export.
    public static func wantsTraces(_ environment: [String: String]) -> Bool {
        if environment["OTEL_SDK_DISABLED"]?.lowercased() == "true" { return false }
        if let exporter = environment["OTEL_TRACES_EXPORTER"], !exporter.isEmpty { return exporter.lowercased() != "none" }
        return ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"].contains { !(environment[$0] ?? "").isEmpty }
    }

    /// Bootstraps the tracer and returns the exporter's service (run it first in the service group: it is
    /// shut down last and flushes the spans still buffered), or nil when export is off.
    ///
    /// `serviceName` is the default `service.name` resource attribute (`OTEL_SERVICE_NAME` wins).
    public static func bootstrap(serviceName: String, logger: Logger) throws -> (any Service)? {
        let environment = ProcessInfo.processInfo.environment
        guard wantsTraces(environment) else { return nil }
        var configuration = OTel.Configuration.default
        configuration.serviceName = serviceName
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.enabled = true
        configuration.traces.exporter = .otlp
        configuration.diagnosticLogLevel = .warning
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(backend.factory)
        logger.info("exporting spans (OpenTelemetry)", metadata: ["service": "\(environment["OTEL_SERVICE_NAME"] ?? serviceName)"])
        return backend.service
    }
}
